"""Rule warmup: train the supernet weights before the mixing weights are learned."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.search.evolution.steps import warmup  # noqa: E402
from autospace.provenance import job  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    warmup(snakemake.params.config, Path(snakemake.input.split).parent,  # noqa: F821
           Path(snakemake.output.checkpoint).parent, snakemake.params.state)  # noqa: F821
