"""AutoSpace: search-space evolution for NAS (Zhou et al., ICCV 2021), reproduced.

The package knows nothing of Snakemake: the workflow's scripts call into it.
"""

from .arch.cells import Cell, CellSpace, make_cell, mutate, parse_cell, random_cell, reference_cell
from .arch.counter import Cost, cell_cost, network_cost
from .arch.spec import ArchSpec, MBConv, Skip, load_spec, spec_from_json
from .errors import SpecError

__version__ = "0.1.0"

__all__ = ["ArchSpec", "Cell", "CellSpace", "Cost", "MBConv", "Skip", "SpecError", "cell_cost",
           "load_spec", "make_cell", "mutate", "network_cost", "parse_cell", "random_cell",
           "reference_cell", "spec_from_json"]
