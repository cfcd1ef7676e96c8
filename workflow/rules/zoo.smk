# Zoo stage: across models, the best layer's brain predictivity against task accuracy, depth
# and features, and trained against random-init twins (one table, four figures).


rule zoo_table:
    """One row per (model, dataset): depth, widths, best layer, scores per area, accuracy."""
    input:
        unpack(zoo_inputs),
    output:
        f"{RESULTS}/zoo.csv",
    params:
        runs=zoo_runs(),
        specs=zoo_specs(),
    threads: 1
    log:
        log_path("zoo_table"),
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/zoo_table.py"


rule zoo_figures:
    """Predictivity against accuracy, depth and features; trained against random init."""
    input:
        zoo=f"{RESULTS}/zoo.csv",
    output:
        **{
            _figure: report(
                f"{RESULTS}/figures/zoo/{_figure}.png",
                caption=f"../report/zoo_{_figure}.rst",
                category="Zoo",
            )
            for _figure in ZOO_FIGURES
        },
    params:
        stage="zoo",
        settings={_f: figure_settings(f"zoo_{_f}") for _f in ZOO_FIGURES},
        title=lambda w: f"{len(zoo_specs())} models vs "
        f"{', '.join(dict.fromkeys(d for d, _ in ENCODING_RUNS))}",
    log:
        log_path("zoo_figures"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"
