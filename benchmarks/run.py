"""`make bench`: run every benchmark; each writes its section of docs/benchmarks.md."""

from __future__ import annotations

import importlib
import sys

BENCHES = ["bench_counter", "bench_supernet", "bench_loader", "bench_memory"]


def main(names: list[str]) -> None:
    for name in names or BENCHES:
        print(f"== {name}")
        importlib.import_module(f"benchmarks.{name}").run()


if __name__ == "__main__":
    main(sys.argv[1:])
