# Included last from the Snakefile, once every stage is defined: a retried job (profile
# `retries`) asks for `attempt` times the memory and runtime its stage declares, so a job
# killed for memory or time gets more on the next attempt (times_attempt, in common.smk).
for _rule in workflow.rules:
    for _name in SCALED_BY_ATTEMPT:
        if _rule.resources is not None and _name in _rule.resources:
            _rule.resources[_name] = times_attempt(_rule.resources[_name])
