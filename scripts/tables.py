"""Rule tables: the spaces comparison, the data splits and the found architectures (CSV, Markdown);
T2 (spaces, paper beside), T3 (budgets) and T4 (ablations), each as CSV, Markdown and LaTeX."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.provenance import as_recorded  # noqa: E402
from autospace.provenance import job  # noqa: E402
from autospace.report.tables import write_experiment_tables  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    write_experiment_tables(as_recorded(snakemake.params.arguments), Path(snakemake.output.comparison_csv).parent)  # noqa: F821
