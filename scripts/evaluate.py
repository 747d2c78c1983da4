"""Rule evaluate: test top-1/top-5, params, MAdds and CPU latency of a trained network."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.engine.evaluate import evaluate  # noqa: E402
from autospace.provenance import job  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    evaluate(snakemake.input.arch, snakemake.input.model, Path(snakemake.input.split).parent,  # noqa: F821
             snakemake.output.metrics, snakemake.params.config, snakemake.params.labels)  # noqa: F821
