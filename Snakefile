import os

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


container: config["container"]


# Every job imports this workflow's own mribench, also in a conda env (which has only the
# third-party packages) and on cluster nodes (the SLURM executor passes the environment on).
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [f"{workflow.basedir}/src", os.getenv("PYTHONPATH")]))
)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/stats.smk"
include: "rules/gradcam.smk"
include: "rules/report.smk"
include: "rules/export.smk"
include: "rules/model_card.smk"
include: "rules/external.smk"


localrules:
    all,
    obtain_dataset,
    obtain_external_set,
    fetch_weights,
    prepare,
    report,
    model_card,


rule all:
    input:
        "results/report.html",
        expand("{run}/MODEL_CARD.md", run=run_dirs()),
        export_files(),
