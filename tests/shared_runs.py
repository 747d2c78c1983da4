"""The test session's shared workflow runs: the tiny run (``tiny_run``) and the second run
(``second_run``, through SLURM where the local cluster answers).

Each is started in the background as soon as the tests that need it are collected, so it runs
while the other tests do, and it is made once per session however many pytest-xdist workers ask
for it: the first to ask starts it under a file lock, and every worker waits for its result
file. The runs live in the session's temporary root (shared by the workers).

Run as ``python tests/shared_runs.py NAME FOLDER`` it is the background process itself: it makes
the run into ``FOLDER/repo`` and writes ``FOLDER/result.pkl`` (the fixture's value, or the error).
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from filelock import FileLock

HERE = Path(__file__).resolve().parent
NAMES = ("tiny_run", "second_run")
RESULT = "result.pkl"


def root(tmp_path_factory) -> Path:
    """The session's temporary root: under pytest-xdist the folder above the workers' own."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def start(name: str, where: Path) -> Path:
    """Start the run ``name`` in the background unless some process of this session already has;
    returns its folder."""
    folder = where / name
    with FileLock(str(where / f"{name}.lock")):
        if not folder.exists():
            folder.mkdir()
            with open(folder / "log", "w") as log:
                proc = subprocess.Popen([sys.executable, str(HERE / "shared_runs.py"), name, str(folder)],
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, cwd=HERE)
            (folder / "pid").write_text(str(proc.pid))
    return folder


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def result(name: str, where: Path, timeout_s: float = 1800):
    """The value of the run ``name`` (started if need be), once it has finished; raises its error."""
    folder = start(name, where)
    deadline = time.monotonic() + timeout_s
    while not (folder / RESULT).exists():
        pid = int((folder / "pid").read_text())
        if not _alive(pid) and not (folder / RESULT).exists():
            raise AssertionError(f"the shared run {name} ended without a result:\n"
                                 + (folder / "log").read_text()[-5000:])
        if time.monotonic() > deadline:
            raise AssertionError(f"the shared run {name} did not finish in {timeout_s} s")
        time.sleep(1)
    ok, value = pickle.loads((folder / RESULT).read_bytes())
    if not ok:
        raise AssertionError(f"the shared run {name} failed:\n{value}")
    return value


def stop_unfinished(where: Path) -> None:
    """At the end of the session: stop the runs still going (a session ended early)."""
    for name in NAMES:
        folder = where / name
        if (folder / "pid").exists() and not (folder / RESULT).exists():
            try:
                os.killpg(int((folder / "pid").read_text()), signal.SIGTERM)
            except ProcessLookupError:
                pass


def _make(name: str, folder: Path):
    from workflow_helpers import second_tiny_run, tiny_run

    return tiny_run(folder / "repo") if name == "tiny_run" else second_tiny_run(folder / "repo")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    run_name, run_folder = sys.argv[1], Path(sys.argv[2])
    try:
        outcome = (True, _make(run_name, run_folder))
    except BaseException:  # noqa: B902 - every failure must reach the waiting tests
        outcome = (False, traceback.format_exc())
    partial = run_folder / (RESULT + ".tmp")
    partial.write_bytes(pickle.dumps(outcome))
    partial.rename(run_folder / RESULT)
