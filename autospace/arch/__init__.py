"""Architecture as data: cells (genotypes, canonical form, mutation), network specs, the
builder (spec -> nn.Module, with the one mixed layer), the analytic cost counter, backbones,
the built-in networks and search-space documents."""
