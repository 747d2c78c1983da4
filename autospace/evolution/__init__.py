"""Search-space evolution (AutoSpace, Fig. 2 and Eqns. 3-5): per-layer populations, tournament
selection with local mutation, a K-cell supernet with differentiable fitness, a reference
architecture and a MAdds constraint. The workflow calls :func:`warmup`, :func:`run_generation`
and :func:`export_space`."""

from .config import SearchConfig
from .steps import export_space, run_generation, warmup

__all__ = ["SearchConfig", "export_space", "run_generation", "warmup"]
