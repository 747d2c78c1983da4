"""The search algorithms on top of the architecture and the engine: evolution of the search
space (AutoSpace) and NAS inside a space (ProxylessNAS, DARTS, random)."""
