"""Warm-up, generation 0, NAS and final training of the default config on a Fashion-MNIST subset
(1,000 search-train, 500 search-val, 2,000 final-training images; population 8; NAS 2 epochs;
training 1 epoch; one torch thread), with the library of the checkout given as argv[1]: time it
as a whole process against another checkout to compare two versions of the training code,
e.g. ``/usr/bin/time -v python benchmarks/engine_stages.py <checkout>``. Prints the generation's
training metrics and the training log (equal metrics: the same search computation)."""
import sys, json, shutil, tempfile
from pathlib import Path
repo = sys.argv[1]; sys.path.insert(0, repo)
import torch, yaml
torch.set_num_threads(1)
from autospace.data import datasets as data
from autospace.search.evolution.steps import run_generation, warmup
from autospace.search.nas.search import search
from autospace.engine.train import train
cfg = yaml.safe_load(open(Path(repo) / "config/config.yaml"))
tmp = Path(tempfile.mkdtemp())
data.prepare_fashion_mnist(tmp / "d", root=None, download=False, seed=0, search_val_size=500,
                           search_train_size=1000, train_size=2000, test_size=100)
search_cfg = {k: cfg[k] for k in ("seed", "device", "backbone", "cell_space", "evolution")}
search_cfg["evolution"] = {**search_cfg["evolution"], "population_size": 8, "checkpoint_every_steps": 50}
search_cfg["device"] = "cpu"
warmup(search_cfg, tmp / "d", tmp / "w", tmp / "sw")
run_generation(search_cfg, tmp / "d", tmp / "w", tmp / "g0", 0, tmp / "sg")
from autospace.arch.space import reference_space
reference_space("fmnist_small").save(tmp / "space.json")
nas = {**cfg["nas"], "epochs": 2, "warmup_epochs": 1}
search({"seed": 0, "device": "cpu", "backbone": "fmnist_small", "nas": nas}, tmp / "space.json", tmp / "d", tmp / "n")
tr = {**cfg["train"], "epochs": 1}
train({"seed": 0, "device": "cpu", "train": tr}, tmp / "n" / "arch.json", tmp / "d", tmp / "t", tmp / "st")
print(json.dumps({"gen_train": json.load(open(tmp / "g0" / "metrics.json"))["train"],
                  "log": open(tmp / "t" / "log.csv").read()}))
shutil.rmtree(tmp)
