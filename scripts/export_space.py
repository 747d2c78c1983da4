"""Rule export_space: the top cells per layer by fitness, plus the reference cells."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.search.evolution.steps import export_space  # noqa: E402
from autospace.provenance import job  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    export_space(snakemake.params.config, Path(snakemake.input.checkpoint).parent,  # noqa: F821
                 snakemake.output.space)  # noqa: F821
