"""Rule tables: the spaces comparison, the data splits and the found architectures (CSV, Markdown);
T2 (spaces, paper beside), T3 (budgets) and T4 (ablations), each as CSV, Markdown and LaTeX."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.compare import write_tables  # noqa: E402
from autospace.runtime import job, write_text  # noqa: E402
from autospace.tables import (data_splits, nas_choices, t2_spaces, t3_budgets, t4_ablations, to_csv,  # noqa: E402
                              to_markdown, write_table)

with job(snakemake.log[0], snakemake.threads, snakemake.params.lineage):  # noqa: F821
    p, out = snakemake.params, snakemake.output  # noqa: F821
    write_tables(p.main, out.csv, out.md)
    for rows, csv_path, md_path in ((data_splits(snakemake.input.split), out.splits, out.splits_md),  # noqa: F821
                                    (nas_choices(p.nas_runs), out.choices, out.choices_md)):
        write_text(csv_path, to_csv(rows))
        write_text(md_path, to_markdown(rows))
    write_table(t2_spaces(p.main, p.budget_madds, p.imagenet), str(out.t2)[:-len(".csv")])
    write_table(t3_budgets(p.budgets, p.imagenet), str(out.t3)[:-len(".csv")])
    write_table(t4_ablations(p.default, p.ablations), str(out.t4)[:-len(".csv")])
