"""NAS inside a layer-wise search space: ProxylessNAS (default), DARTS first order, random."""

from .config import ALGORITHMS, NASConfig
from .search import check_feasible, repair, search
from .supernet import SuperNet, layer_choices

__all__ = ["ALGORITHMS", "NASConfig", "SuperNet", "check_feasible", "layer_choices", "repair", "search"]
