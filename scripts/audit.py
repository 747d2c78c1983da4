"""Rule audit: every artifact of the run against its provenance record, and its validity."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.audit import Layout, audit, failure_lines, write_report  # noqa: E402
from autospace.provenance import job  # noqa: E402

with job(snakemake.log[0], snakemake.threads):  # noqa: F821
    layout = Layout.from_dict(snakemake.params.layout)  # noqa: F821
    report = audit(Path(snakemake.output.json).parent, layout, dvc=False, only=list(snakemake.input))  # noqa: F821
    write_report(report, snakemake.output.json, snakemake.output.md)  # noqa: F821
    print("\n".join(f"FAIL {line}" for line in failure_lines(report)) or "audit: every artifact passed")
if not report["ok"]:
    sys.exit(f"audit failed for: {', '.join(report['failures'])} (see {snakemake.log[0]})")  # noqa: F821
