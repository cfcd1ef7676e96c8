# Included last from the Snakefile, once every stage is defined (self-contained, so that a
# test can include it alone): a retried job (profile `retries`) asks for `attempt` times the
# memory and runtime its stage declares, so a job killed for memory or time gets more on the
# next attempt.
from snakemake.resources import Resource as _Resource

SCALED_BY_ATTEMPT = ("mem_mb", "runtime")


def times_attempt(resource):
    """A resource whose value is the declared one times the retry attempt (1 on the first)."""

    def scaled(wildcards, **kwargs):
        value = resource.evaluate(wildcards, **kwargs)._value
        attempt = kwargs.get("attempt", 1)
        return value * attempt if isinstance(value, int) and not isinstance(value, bool) else value

    return _Resource(resource.name, scaled, raw=resource.raw)


for _step in workflow.rules:
    for _name in SCALED_BY_ATTEMPT:
        if _step.resources is not None and _name in _step.resources:
            _step.resources[_name] = times_attempt(_step.resources[_name])
