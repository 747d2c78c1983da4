"""Rule figures: fitness per layer over generations, and training curves."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.figures import plot_fitness, plot_training_curves  # noqa: E402
from autospace.runtime import job  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    plot_fitness(snakemake.input.populations, snakemake.output.fitness)  # noqa: F821
    plot_training_curves(snakemake.input.logs, snakemake.output.curves)  # noqa: F821
