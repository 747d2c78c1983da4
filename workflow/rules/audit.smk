# The audit of this run's artifacts (autospace.audit): lineage and validity, for the results layout
# of workflow/layout.py (params.layout). It runs before the
# onsuccess handler records the hashes in dvc.lock, so it does not compare with DVC; run
# `make audit` (workflow/audit_run.py) after the run for that. Its outputs are not DVC outputs.
# Its inputs are every artifact, compared by time like any rule's, so any job that reruns (or
# any artifact edited by hand) reruns the audit, dry runs included. The onsuccess `dvc commit`
# leaves the files as they are (workflow/dvc_sync.py: no relink), so recording them in dvc.lock
# does not make the next run audit again.
AUDITED = [f for job in JOBS for f in job["output"] + [L.provenance_file(job)]]


rule audit:
    input:
        AUDITED,
    output:
        json=under(L.RESULTS, L.AUDIT_FILES[0], exp=EXP),
        md=under(L.RESULTS, L.AUDIT_FILES[1], exp=EXP),
    params:
        layout=L.audit_layout(EXP),
    log:
        log_file("audit", exp=EXP),
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/audit.py"
