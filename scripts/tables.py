"""Rule tables: the spaces comparison (mean +- std over seeds) as CSV and Markdown."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.compare import write_tables  # noqa: E402
from autospace.runtime import job  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    write_tables(snakemake.input.metrics, snakemake.output.csv, snakemake.output.md)  # noqa: F821
