"""Rule resolved_config: write the fully resolved config this run uses."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from autospace.runconfig import write_resolved_config  # noqa: E402

write_resolved_config(snakemake.params.config, snakemake.output[0])  # noqa: F821
