"""NAS inside a layer-wise search space: ProxylessNAS (default), DARTS first order, random.

:mod:`.config` (the ``nas`` section, torch-free), :mod:`.search` (``search``, ``layer_choices``,
``repair``, ``check_feasible``). Nothing is imported here, so reading the config needs no torch.
"""
