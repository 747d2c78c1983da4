"""Rule prepare_data: decode and check the dataset, write the seeded search split."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.data.prepare import prepare  # noqa: E402
from autospace.provenance import job  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    prepare(snakemake.params.data, snakemake.params.seed, Path(snakemake.output.split).parent,  # noqa: F821
            snakemake.params.network)  # noqa: F821
