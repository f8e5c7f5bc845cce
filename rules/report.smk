rule report:
    input:
        unpack(chosen_train_jsons),
        runs=expand(
            "{run}/{file}",
            run=run_dirs(),
            file=["metrics.json", "predictions.csv", "confusion.png", "curves.png"],
        ),
        selections=selections(),
        baselines=expand("{run}/{file}", run=baseline_dirs(), file=["train.json", "metrics.json"]),
        counterfactual_metrics=expand("{run}/counterfactual/metrics.json", run=run_dirs() + baseline_dirs()),
        counterfactual_stats=counterfactual_report_inputs(),
        gradcam=gradcam_galleries(),
        stats="results/stats/stats.json",
        stats_figures="results/stats/figures",
        split="results/data/split.csv",
        audit="results/data/audit.json",
        audit_csv="results/data/audit.csv",
        dataset="results/data/dataset",
        exports=export_files(),
        external=external_report_inputs(),
        cross_validation=cross_validation_report_inputs(),
    output:
        summary=report("results/summary.csv", caption="captions/summary.rst", category="Comparison"),
        html=report("results/report.html", caption="captions/report.rst", category="Comparison"),
    log:
        "logs/report/report.log",
    benchmark:
        "benchmarks/report/report.tsv"
    conda:
        "../envs/report.yaml"
    params:
        run_dirs=run_dirs() + baseline_dirs(),
        # the whole config: the report shows it as run, so any change re-runs the report; but for
        # where the results are tracked, which changes none of them (only the track job re-runs)
        config={key: value for key, value in config.items() if key != "tracking"},
        workflow_dir=workflow.basedir,
        external_sets=external_report_sets(),
    script:
        "../scripts/report.py"
