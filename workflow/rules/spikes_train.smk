# Final supervised spike-inference models: one per (method label, training set), trained on
# every unit of the set's ground-truth stores, saved once and reused on new data without
# retraining (`brainreps spikes infer --model`). The benchmark's cross-validated fold models
# are separate (rule spikes_benchmark).
SPIKES_TRAINING = config.get("spikes", {}).get("training", {})
SPIKES_METHODS = config.get("spikes", {}).get("methods", {})


def spikes_method_name(label):
    """Registered method behind a configured label (default: the label itself)."""
    return (SPIKES_METHODS.get(label) or {}).get("method", label)


def spikes_train_labels():
    """Configured method labels with a supervised method that get a final model."""
    wanted = SPIKES_TRAINING.get("methods")
    labels = [l for l in SPIKES_METHODS if spikes_method_name(l) in ("cnn", "stm")]
    return [l for l in labels if wanted is None or l in wanted]


def spikes_train_sets():
    """Training-set name -> ground-truth dataset names (default: one set per dataset)."""
    sets = SPIKES_TRAINING.get("sets") or {gt: [gt] for gt in config.get("spikes", {}).get("ground_truth", {})}
    for name, members in sets.items():
        for gt in members:
            if gt not in config.get("spikes", {}).get("ground_truth", {}):
                raise WorkflowError(
                    f"config key spikes.training.sets.{name}: {gt!r} is not a dataset in "
                    f"spikes.ground_truth"
                )
    return sets


def _alternatives(names):
    return "|".join(sorted(names, key=len, reverse=True)) if names else "(?!x)x"


rule spikes_train:
    """A supervised method trained on every unit of a training set: the reusable model file."""
    input:
        data=lambda w: expand(f"{SPIKES_DIR}/data/{{gt}}.zarr", gt=spikes_train_sets()[w.trainset]),
    output:
        f"{SPIKES_DIR}/models/{{method}}_{{trainset}}.pt",
    params:
        method=lambda w: spikes_method_name(w.method),
        train=lambda w: (SPIKES_METHODS.get(w.method) or {}).get("train", {}),
        device=SPIKES_TRAINING.get("device"),
    wildcard_constraints:
        method=_alternatives(spikes_train_labels()),
        trainset=_alternatives(spikes_train_sets()),
    threads: 2
    log:
        log_path("spikes_train", "method", "trainset"),
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=int(SPIKES_TRAINING.get("gpu", 0)),
    script:
        "../scripts/spikes_train.py"


TARGETS.extend(
    f"{SPIKES_DIR}/models/{_label}_{_set}.pt"
    for _label in spikes_train_labels()
    for _set in spikes_train_sets()
)
