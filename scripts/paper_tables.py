"""Rule paper_tables: T1 (ImageNet models, paper vs recomputed) and T5 (search cost)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.provenance import job  # noqa: E402
from autospace.report.tables import t1_of_run, t5_search_cost, write_table  # noqa: E402

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    p = snakemake.params  # noqa: F821
    t1 = t1_of_run(snakemake.input.metrics, p.budget_madds, p.paper_comparison)  # noqa: F821
    write_table(t1, str(snakemake.output.t1_imagenet_csv)[:-len(".csv")])  # noqa: F821
    write_table(t5_search_cost(p.arguments["stages"], p.arguments["device"]),
                str(snakemake.output.t5_search_cost_csv)[:-len(".csv")])  # noqa: F821
