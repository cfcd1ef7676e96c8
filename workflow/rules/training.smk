# Training stage: networks trained on labelled stimulus sets (a checkpoint per saved epoch,
# each a model like any other), task accuracy of every checkpoint and of pretrained models on
# ImageNet subsets in one table, and the learning dynamics of every run.


rule encoding_model:
    """One layer's ridge weights of a dataset's reliable units: predicts them on new images."""
    input:
        projection=lambda w: f"{RESULTS}/projection/{w.model}/{stimulus_set_of(w.dataset)}.zarr",
        responses=f"{RESULTS}/responses/{{dataset}}.zarr",
        encoding=f"{RESULTS}/encoding/{{model}}/{{dataset}}.zarr",
    output:
        f"{RESULTS}/encoding/{{model}}/{{dataset}}_model.pt",
    params:
        network=lambda w: model_settings(w.model),
        fitted=config["encoding"]["fitted_model"],
    log:
        log_path("encoding_model", "model", "dataset"),
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/encoding_model.py"


rule neural_target:
    """An encoding model's predicted responses to every image of a stimulus set."""
    input:
        model=f"{RESULTS}/encoding/{{model}}/{{dataset}}_model.pt",
        stimuli=f"{RESULTS}/stimuli/{{stimuli}}.zarr",
    output:
        directory(f"{RESULTS}/neural_targets/{{model}}/{{dataset}}/{{stimuli}}.zarr"),
    params:
        arch=lambda w: config["models"][w.model]["arch"],
        device=config["features"]["device"],
    log:
        log_path("neural_target", "model", "dataset", "stimuli"),
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/neural_target.py"


rule train:
    """Train one run (seeded, resumable from its last checkpoint) and save its epochs."""
    input:
        unpack(lambda w: neural_target_input(w, training=True)),
        stimuli=lambda w: f"{RESULTS}/stimuli/{TRAINING[w.run]['stimuli']}.zarr",
    output:
        checkpoints=directory(f"{TRAINING_DIR}/{{run}}/checkpoints"),
        history=f"{TRAINING_DIR}/{{run}}/history.csv",
    params:
        settings=lambda w: training_settings(w.run),
        device=lambda w: TRAINING[w.run]["device"],
        work_dir=lambda w: f"{TRAINING_DIR}/.work/{w.run}",
    wildcard_constraints:
        run=names_of("training"),
    threads: lambda w: TRAINING[w.run]["threads"] or 1
    log:
        log_path("train", "run"),
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=lambda w: int(TRAINING[w.run]["gpu"]),
    script:
        "../scripts/train.py"


rule training_accuracy:
    """Every checkpoint's accuracy, its robustness to noise and FGSM, its target RSA."""
    input:
        unpack(neural_target_input),
        stimuli=lambda w: f"{RESULTS}/stimuli/{TRAINING[w.run]['stimuli']}.zarr",
        checkpoints=f"{TRAINING_DIR}/{{run}}/checkpoints",
    output:
        store=directory(f"{TRAINING_DIR}/{{run}}/accuracy.zarr"),
        table=f"{TRAINING_DIR}/{{run}}/accuracy.csv",
        robustness=f"{TRAINING_DIR}/{{run}}/robustness.csv",
    params:
        settings=lambda w: training_settings(w.run),
        device=lambda w: TRAINING[w.run]["device"],
    wildcard_constraints:
        run=names_of("training"),
    threads: lambda w: TRAINING[w.run]["threads"] or 1
    log:
        log_path("training_accuracy", "run"),
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=lambda w: int(TRAINING[w.run]["gpu"]),
    script:
        "../scripts/training_accuracy.py"


rule model_accuracy:
    """Top-1/top-5 of a pretrained ImageNet-1k classifier on a labelled ImageNet subset."""
    input:
        stimuli=f"{RESULTS}/stimuli/{{stimuli}}.zarr",
        weights=f"{RESULTS}/weights/{{model}}.json",
    output:
        f"{RESULTS}/accuracy/{{model}}/{{stimuli}}.csv",
    params:
        model=lambda w: model_settings(w.model),
        device=config["features"]["device"],
    threads: 2
    log:
        log_path("model_accuracy", "model", "stimuli"),
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=gpu_request,
    script:
        "../scripts/model_accuracy.py"


rule accuracy_table:
    """Every checkpoint's and pretrained model's task accuracy in one table; robustness in another."""
    input:
        unpack(accuracy_inputs),
    output:
        accuracy=f"{RESULTS}/accuracy.csv",
        robustness=f"{RESULTS}/robustness.csv",
    log:
        log_path("accuracy_table"),
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/accuracy_table.py"


rule learning_dynamics:
    """Per-layer, layer-pair and predictivity tables of every checkpoint of every run."""
    input:
        unpack(dynamics_inputs),
    output:
        layers=f"{TRAINING_DIR}/dynamics_layers.csv",
        pairs=f"{TRAINING_DIR}/dynamics_pairs.csv",
        predictivity=f"{TRAINING_DIR}/dynamics_predictivity.csv",
    params:
        checkpoints=checkpoint_models(),
    log:
        log_path("learning_dynamics"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/learning_dynamics.py"


rule training_figure_accuracy:
    """Held-out and training-set accuracy of every run against epoch."""
    input:
        accuracy=f"{RESULTS}/accuracy.csv",
    output:
        accuracy=report(
            f"{RESULTS}/figures/training/accuracy.png",
            caption="../report/training_accuracy.rst",
            category="Training",
        ),
    params:
        stage="training",
        settings=lambda w: {"accuracy": figure_settings("training_accuracy", **training_chance())},
        title=lambda w: f"task accuracy of {', '.join(TRAINING)}",
    log:
        log_path("training_figure_accuracy"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule training_figures_run:
    """A run's layer x layer RDM correlations per checkpoint, and decorrelation and sparseness."""
    input:
        pairs=f"{TRAINING_DIR}/dynamics_pairs.csv",
        layers=f"{TRAINING_DIR}/dynamics_layers.csv",
    output:
        layer_matrices=report(
            f"{RESULTS}/figures/training/{{run}}_layer_matrices.png",
            caption="../report/training_layer_matrices.rst",
            category="Training",
            subcategory="{run}",
        ),
        sparseness=report(
            f"{RESULTS}/figures/training/{{run}}_sparseness.png",
            caption="../report/training_sparseness.rst",
            category="Training",
            subcategory="{run}",
        ),
    params:
        stage="training",
        settings=lambda w: {
            f: figure_settings(f"training_{f}", run=w.run) for f in ("layer_matrices", "sparseness")
        },
        title=lambda w: f"{w.run} ({TRAINING[w.run]['arch']}, {TRAINING[w.run]['labels']} labels) "
        f"on {analysed_set_of(w.run)}",
    wildcard_constraints:
        run=alternatives(analysed_runs()),
    log:
        log_path("training_figures_run", "run"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule training_figures:
    """Intrinsic dimension against depth, and the last hidden layer's against accuracy."""
    input:
        layers=f"{TRAINING_DIR}/dynamics_layers.csv",
    output:
        **{
            _figure: report(
                f"{RESULTS}/figures/training/{_figure}.png",
                caption=f"../report/training_{_figure}.rst",
                category="Training",
            )
            for _figure in TRAINING_FIGURES
        },
    params:
        stage="training",
        settings={_f: figure_settings(f"training_{_f}") for _f in TRAINING_FIGURES},
        title=lambda w: f"runs {', '.join(analysed_runs())} on "
        f"{', '.join(dict.fromkeys(map(analysed_set_of, analysed_runs())))}",
    log:
        log_path("training_figures"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule training_figure_predictivity:
    """The best layer's neural predictivity against epoch and accuracy, for one dataset."""
    input:
        predictivity=f"{TRAINING_DIR}/dynamics_predictivity.csv",
    output:
        predictivity=report(
            f"{RESULTS}/figures/training/predictivity_{{dataset}}.png",
            caption="../report/training_predictivity.rst",
            category="Training",
        ),
    params:
        stage="training",
        settings=lambda w: {
            "predictivity": figure_settings("training_predictivity", dataset=w.dataset)
        },
        title=lambda w: f"neural predictivity of {', '.join(analysed_runs())} checkpoints vs "
        f"{w.dataset}",
    wildcard_constraints:
        dataset=names_of("datasets"),
    log:
        log_path("training_figure_predictivity", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule training_figures_robustness:
    """Held-out accuracy under pixel noise and FGSM; the regularised layers' RSA over training."""
    input:
        robustness=f"{RESULTS}/robustness.csv",
    output:
        robustness=report(
            f"{RESULTS}/figures/training/robustness.png",
            caption="../report/training_robustness.rst",
            category="Training",
        ),
        **(
            {
                "target_rsa": report(
                    f"{RESULTS}/figures/training/target_rsa.png",
                    caption="../report/training_target_rsa.rst",
                    category="Training",
                )
            }
            if brain_guided_runs()
            else {}
        ),
    params:
        stage="training",
        settings=lambda w: {
            "robustness": figure_settings("training_robustness", arms=training_arms()),
            "target_rsa": figure_settings("training_target_rsa", arms=training_arms()),
        },
        title=lambda w: f"runs {', '.join(TRAINING)} on "
        f"{', '.join(dict.fromkeys(TRAINING[r]['stimuli'] for r in TRAINING))}",
    log:
        log_path("training_figures_robustness"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"
