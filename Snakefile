import os

from snakemake.settings.types import DeploymentMethod
from snakemake.utils import min_version

from mribench.container import workflow_image

min_version("9.0")


configfile: "config.yaml"


# A registry URI as given, or a local .sif relative to this folder (mribench/container.py).
uses_apptainer = DeploymentMethod.APPTAINER in workflow.deployment_settings.deployment_method


container: workflow_image(config["container"], workflow.basedir, uses_apptainer)


# Every job imports this workflow's own mribench, also in a conda env (which has only the
# third-party packages) and on cluster nodes (the SLURM executor passes the environment on).
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [f"{workflow.basedir}/src", os.getenv("PYTHONPATH")]))
)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/baselines.smk"
include: "rules/stats.smk"
include: "rules/gradcam.smk"
include: "rules/report.smk"
include: "rules/export.smk"
include: "rules/model_card.smk"
include: "rules/external.smk"
include: "rules/tracking.smk"
include: "rules/intensity.smk"


localrules:
    all,
    obtain_dataset,
    obtain_external_set,
    fetch_weights,
    select,
    select_fold,
    prepare,
    report,
    model_card,
    track,


rule all:
    input:
        "results/report.html",
        expand("{run}/MODEL_CARD.md", run=run_dirs()),
        # The selections themselves: Snakemake checks missing output only for the files asked for, and
        # not at all for the jobs after a checkpoint whose output is missing (it resolves them after the
        # checkpoint ran), so a target that gains a grid on a finished run would plan nothing otherwise.
        selections(),
        export_files(),
        tracking_outputs(),
