# Cluster behaviour of every rule (included LAST from the Snakefile, after all other rules):
# - a retried job (profile `retries`) asks for `attempt` times the memory and runtime its rule
#   declares, so a job killed for memory or time gets more on the next attempt;
# - downloads (rules named download_* / fetch_*) and the tiny report bookkeeping rules run on
#   the submit host (`localrules`): compute nodes often have no internet.
from snakemake.resources import Resource as _Resource

SCALED_BY_ATTEMPT = ("mem_mb", "runtime")


def _times_attempt(resource):
    """The resource's declared value times the attempt number (declared value on attempt 1)."""

    def scaled(wildcards, **kwargs):
        value = resource.evaluate(wildcards, **kwargs)._value
        attempt = kwargs.get("attempt", 1)
        return value * attempt if isinstance(value, int) and not isinstance(value, bool) else value

    return _Resource(resource.name, scaled, raw=resource.raw)


for _rule in workflow.rules:
    for _name in SCALED_BY_ATTEMPT:
        if _rule.resources is not None and _name in _rule.resources:
            _rule.resources[_name] = _times_attempt(_rule.resources[_name])

LOCAL_RULES = sorted(
    r.name
    for r in workflow.rules
    if r.name.startswith(("download_", "fetch_")) or r.name in ("report_config", "report_versions")
)
workflow.localrules(*LOCAL_RULES)
