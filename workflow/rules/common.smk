# Shared paths and helpers. Every stage appends its outputs to TARGETS (the default target).
RESULTS = "results"
LOGS = "logs"
TARGETS = []

wildcard_constraints:
    stimuli="[A-Za-z0-9_-]+",
    dataset="[A-Za-z0-9_-]+",
    model="[A-Za-z0-9_-]+",
    gt="[A-Za-z0-9_-]+",


def stimulus_set_of(dataset):
    """Name of the stimulus set a dataset was recorded with."""
    return config["datasets"][dataset]["stimuli"]


def names_with_source(section, source):
    """Regex matching the names in a config section whose `source` is `source` (or nothing)."""
    names = [n for n, entry in config.get(section, {}).items() if entry["source"] == source]
    return "|".join(names) if names else "(?!x)x"


def log_path(rule_name, *wildcard_names):
    """logs/{rule}/{wildcard}_{wildcard}.log, the one log file of a rule."""
    stem = "_".join("{" + w + "}" for w in wildcard_names) or "all"
    return f"{LOGS}/{rule_name}/{stem}.log"
