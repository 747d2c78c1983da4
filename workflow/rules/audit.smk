# The audit of this run's artifacts (autospace.audit): lineage and validity. It runs before the
# onsuccess handler records the hashes in dvc.lock, so it does not compare with DVC; run
# `autospace audit results/<experiment>` after the run for that. Its outputs are not DVC outputs.
AUDITED = [f for job in L.jobs(config) for f in job["output"] + [L.provenance_file(EXP, job)]]


rule audit:
    input:
        AUDITED,
    output:
        json=under(L.RESULTS, "audit.json"),
        md=under(L.RESULTS, "audit.md"),
    log:
        log_file("audit"),
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/audit.py"
