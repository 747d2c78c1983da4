"""`make bench`: run every benchmark; each writes its section of docs/benchmarks.md.

``python -m benchmarks.run`` runs :data:`BENCHES`; ``python -m benchmarks.run NAME [ARG ...]``
runs ``benchmarks/NAME.py``'s ``run(ARG, ...)`` (e.g. ``bench_evidence cpu /tmp/evidence``).
"""

from __future__ import annotations

import importlib
import sys

BENCHES = ["bench_counter", "bench_supernet", "bench_loader", "bench_memory"]


def main(argv: list[str]) -> None:
    if argv:
        name, *args = argv
        importlib.import_module(f"benchmarks.{name}").run(*args)
        return
    for name in BENCHES:
        print(f"== {name}")
        importlib.import_module(f"benchmarks.{name}").run()


if __name__ == "__main__":
    main(sys.argv[1:])
