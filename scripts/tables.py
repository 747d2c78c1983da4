"""Rule tables: the spaces comparison (CSV, Markdown), T2 (spaces, paper beside), T3 (budgets) and
T4 (ablations), each as CSV, Markdown and LaTeX."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.compare import write_tables  # noqa: E402
from autospace.runtime import job  # noqa: E402
from autospace.tables import t2_spaces, t3_budgets, t4_ablations, write_table  # noqa: E402

with job(snakemake.log[0], snakemake.threads):  # noqa: F821
    p, out = snakemake.params, snakemake.output  # noqa: F821
    write_tables(p.main, out.csv, out.md)
    write_table(t2_spaces(p.main, p.budget_madds, p.imagenet), str(out.t2)[:-len(".csv")])
    write_table(t3_budgets(p.budgets, p.imagenet), str(out.t3)[:-len(".csv")])
    write_table(t4_ablations(p.default, p.ablations), str(out.t4)[:-len(".csv")])
