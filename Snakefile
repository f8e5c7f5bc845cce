from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


container: config["container"]


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/stats.smk"
include: "rules/gradcam.smk"
include: "rules/report.smk"


localrules:
    all,
    obtain_dataset,
    report,


rule all:
    input:
        "results/report.html",
