# The report: `snakemake --report results/report.html` gathers every figure marked report(...)
# (captions in workflow/report/), the configuration used and the software versions.


report: "../report/workflow.rst"


rule report_config:
    """The validated configuration of this run, defaults filled in (re-run on any change)."""
    output:
        report(
            f"{RESULTS}/report/config.yaml",
            caption="../report/config.rst",
            category="Run",
        ),
    params:
        config=lambda w: config,
    log:
        log_path("report_config"),
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/report_config.py"


rule report_versions:
    """Python and package versions of this run (re-run when a version changes)."""
    output:
        report(
            f"{RESULTS}/report/versions.txt",
            caption="../report/versions.rst",
            category="Run",
        ),
    params:
        versions=software_versions(),
    log:
        log_path("report_versions"),
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/report_versions.py"
