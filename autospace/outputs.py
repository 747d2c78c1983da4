"""The files each step of the library writes into the folder it is handed, by name, declared once:
the steps write and read them by these names, the workflow declares them as its rules' outputs
(workflow/layout.py) and the audit knows a file's format by them. No torch: the workflow reads
this module when it parses its rules."""

DATASET = "dataset.pt"  # the data step: the prepared tensors
SPLIT = "split.json"  # the data step: the split document (indices, source, checksums)
CHECKPOINT = "checkpoint.pt"  # a search step (warm-up, generation): supernet weights, populations, RNG
POPULATION = "population.json"  # a search step: each layer's population with fitness
SAMPLED = "sampled.json"  # a search step: the cells each layer sampled
METRICS = "metrics.json"  # a search step's training metrics; an evaluated network's metrics
RESOLVED = "config.json"  # a search, NAS or training step: the config it ran with, resolved
ARCH = "arch.json"  # a NAS step: the network found (spec)
NAS_REPORT = "nas.json"  # a NAS step: its choices, MAdds and search curve
MODEL = "model.pt"  # final training: the trained network and its full training state
LOG = "log.csv"  # final training: one row per epoch

DATA_FILES = (DATASET, SPLIT)
SEARCH_FILES = (CHECKPOINT, POPULATION, SAMPLED, METRICS, RESOLVED)
NAS_FILES = (ARCH, NAS_REPORT, RESOLVED)
TRAIN_FILES = (MODEL, LOG, RESOLVED)
