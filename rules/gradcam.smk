rule gradcam:
    input:
        model="results/runs/{model}_{strategy}/seed{seed}/model.keras",
        predictions="results/runs/{model}_{strategy}/seed{seed}/predictions.csv",
        dataset="results/data/dataset",
    output:
        gallery=report(
            "results/runs/{model}_{strategy}/seed{seed}/gradcam/gallery.png",
            caption="captions/gradcam.rst",
            category="Grad-CAM",
            labels={"model": "{model}", "strategy": "{strategy}", "seed": "{seed}"},
        ),
        selection="results/runs/{model}_{strategy}/seed{seed}/gradcam/selection.csv",
        settings="results/runs/{model}_{strategy}/seed{seed}/gradcam/gradcam.json",
    log:
        "logs/gradcam/{model}_{strategy}_seed{seed}.log",
    benchmark:
        "benchmarks/gradcam/{model}_{strategy}_seed{seed}.tsv"
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
