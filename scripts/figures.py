"""Rule figures: fitness and diversity per layer over generations, the learned cells, training
curves, and accuracy against MAdds with the Pareto front (the plotted data also as CSV)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.report import figures as F  # noqa: E402
from autospace.files import to_csv, write_text  # noqa: E402
from autospace.provenance import as_recorded, job  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    i, out = snakemake.input, snakemake.output  # noqa: F821
    data = F.figure_tables(as_recorded(snakemake.params.arguments))  # noqa: F821
    F.plot_fitness(i.populations, out.fitness_png)
    write_text(out.diversity_csv, to_csv(data["diversity"]))
    F.plot_diversity(data["diversity"], out.diversity_png)
    F.plot_cells(i.space, out.cells_png)
    F.plot_training_curves(i.logs, out.training_curves_png)
    write_text(out.pareto_csv, to_csv(data["pareto"]))
    F.plot_pareto(data["pareto"], out.pareto_png)
