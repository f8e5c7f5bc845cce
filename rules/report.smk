rule report:
    input:
        runs=expand(
            "{run}/{file}",
            run=run_dirs(),
            file=["train.json", "metrics.json", "confusion.png", "curves.png"],
        ),
        split="results/data/split.csv",
        exports=export_files(),
    output:
        summary=report("results/summary.csv", caption="captions/summary.rst", category="Comparison"),
        html=report("results/report.html", caption="captions/report.rst", category="Comparison"),
    log:
        "logs/report/report.log",
    benchmark:
        "benchmarks/report/report.tsv"
    params:
        run_dirs=run_dirs(),
        config=config,
    script:
        "../scripts/report.py"
