"""Search-space evolution (AutoSpace, Fig. 2 and Eqns. 3-5): per-layer populations, tournament
selection with local mutation, a K-cell supernet with differentiable fitness, a reference
architecture and a MAdds constraint. The workflow calls :func:`.steps.warmup`,
:func:`.steps.run_generation` and :func:`.steps.export_space`; :mod:`.config` reads the
``evolution`` section (torch-free). Nothing is imported here, so reading the config needs no
torch."""
