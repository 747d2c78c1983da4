"""Rule train: train the found network from scratch (resumable from its state folder)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.provenance import job  # noqa: E402
from autospace.engine.train import train  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    train(snakemake.params.config, snakemake.input.arch, Path(snakemake.input.split).parent,  # noqa: F821
          Path(snakemake.output.model).parent, snakemake.params.state)  # noqa: F821
