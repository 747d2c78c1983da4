"""Rule paper_tables: T1 (ImageNet models, paper vs recomputed) and T5 (search cost)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.provenance import job  # noqa: E402
from autospace.tables import t1_imagenet, t5_search_cost, trained_top1, write_table  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    p = snakemake.params  # noqa: F821
    imagenet = p.paper_comparison == "imagenet"  # a run declared as ImageNet, whatever its loader
    trained = trained_top1(snakemake.input.metrics, p.budget_madds) if imagenet else {}  # noqa: F821
    write_table(t1_imagenet(trained), str(snakemake.output.t1)[:-len(".csv")])  # noqa: F821
    write_table(t5_search_cost(p.benchmarks, p.device), str(snakemake.output.t5)[:-len(".csv")])  # noqa: F821
