# The audit of this run's artifacts (autospace.audit): lineage and validity. It runs before the
# onsuccess handler records the hashes in dvc.lock, so it does not compare with DVC; run
# `autospace audit results/<experiment>` after the run for that. Its outputs are not DVC outputs.
# Its inputs are ancient(): `dvc commit` (onsuccess) rewrites the files it records after the audit
# has run, which must not make the next run audit again; a job that reruns still reruns it.
AUDITED = [f for job in JOBS for f in job["output"] + [L.provenance_file(job)]]


rule audit:
    input:
        ancient(AUDITED),
    output:
        json=under(L.RESULTS, "audit.json", exp=EXP),
        md=under(L.RESULTS, "audit.md", exp=EXP),
    log:
        log_file("audit", exp=EXP),
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/audit.py"
