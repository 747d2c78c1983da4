"""Rule hand_space: a hand-designed space (proxylessnas, reference) in the space format."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.provenance import job  # noqa: E402
from autospace.arch.space import hand_designed_space  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    hand_designed_space(snakemake.wildcards.space, snakemake.params.backbone,  # noqa: F821
                        snakemake.params.reference_cell).save(snakemake.output.space)  # noqa: F821
