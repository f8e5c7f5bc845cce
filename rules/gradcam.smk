rule gradcam:
    input:
        unpack(chosen_files(model="model.keras")),
        predictions=f"{RUN_DIR}/predictions.csv",
        dataset="results/data/dataset",
    output:
        gallery=report(
            f"{RUN_DIR}/gradcam/gallery.png",
            caption="captions/gradcam.rst",
            category="Grad-CAM",
            labels={"model": "{model}", "strategy": "{strategy}", "seed": "{seed}"},
        ),
        selection=f"{RUN_DIR}/gradcam/selection.csv",
        settings=f"{RUN_DIR}/gradcam/gradcam.json",
    log:
        f"logs/gradcam/{JOB_NAME}.log",
    benchmark:
        f"benchmarks/gradcam/{JOB_NAME}.tsv"
    conda:
        "../envs/training.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        backend=config["training"]["backend"],
        classes=config["dataset"]["classes"],
        per_class=config["report"]["gradcam_images_per_class"],
        seed=config["report"]["seed"],
    script:
        "../scripts/gradcam.py"
