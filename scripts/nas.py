"""Rule nas: search a network inside one space under the MAdds budget (resumable from its state folder)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.search.nas.search import search  # noqa: E402
from autospace.provenance import job  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    search(snakemake.params.config, snakemake.input.space, Path(snakemake.input.split).parent,  # noqa: F821
           Path(snakemake.output.arch).parent, snakemake.params.state)  # noqa: F821
