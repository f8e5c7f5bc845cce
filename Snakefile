from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


container: config["container"]


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/export.smk"
include: "rules/model_card.smk"


localrules:
    all,
    obtain_dataset,
    report,
    model_card,


rule all:
    input:
        "results/report.html",
        expand("{run}/MODEL_CARD.md", run=run_dirs()),
        export_files(),
