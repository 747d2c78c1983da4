"""Rule evolve: one generation (sample K cells per layer, train, update fitness)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.search.evolution.steps import run_generation  # noqa: E402
from autospace.provenance import job  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    run_generation(snakemake.params.config, Path(snakemake.input.split).parent,  # noqa: F821
                   Path(snakemake.input.checkpoint).parent, Path(snakemake.output.checkpoint).parent,  # noqa: F821
                   int(snakemake.wildcards.gen), snakemake.params.state)  # noqa: F821
