# brainreps: deep networks vs mouse visual cortex, and spike inference from calcium imaging.
# Run `snakemake --cores 2` (embedded default) or with `--configfile config/allen.yaml`.
# A table of contents: config validation, one file per stage, the default target.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from brainreps.config import ConfigError, validate_config  # noqa: E402

# The embedded default, unless the user names their own config with --configfile (which then
# replaces it instead of being merged into it).
if not workflow.overwrite_configfiles:
    configfile: str(Path(workflow.basedir) / "config" / "config.yaml")

# The schema (src/brainreps/schemas) and every cross-section check (brainreps.config_checks),
# the same as `brainreps check-config`; defaults are filled in.
try:
    config.update(validate_config(config))
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/projection.smk"
include: "workflow/rules/encoding.smk"
include: "workflow/rules/similarity.smk"
include: "workflow/rules/spikes.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/zoo.smk"
include: "workflow/rules/textures.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),


# Keep last: scales every rule's memory/runtime by the retry attempt.
include: "workflow/rules/cluster.smk"


# With --sdm conda, every rule that runs a script and names no environment of its own runs in the
# main one (envs/brainreps.yaml); allen_extract names envs/allensdk.yaml. Without --sdm conda
# this is ignored and the rules run in the environment snakemake runs in.
MAIN_CONDA_ENV = str(Path(workflow.basedir) / "envs" / "brainreps.yaml")
for _rule in workflow.rules:
    if _rule.conda_env is None and _rule.is_script:
        _rule.conda_env = MAIN_CONDA_ENV
