import os

from hypothesis import settings

settings.register_profile("ci", deadline=None, print_blob=True, derandomize=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


import pytest  # noqa: E402
import shared_runs  # noqa: E402
import torch  # noqa: E402

from autospace.data import datasets as data  # noqa: E402


torch.set_num_threads(1)  # the 2 CPU cores are shared; more threads only oversubscribe them


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A few hundred Fashion-MNIST images, prepared once per session."""
    if not data.Path(data.DEBIAN_ROOT).is_dir():
        pytest.skip("dataset-fashion-mnist missing")
    out = tmp_path_factory.mktemp("tiny_data")
    data.prepare_fashion_mnist(out, root=None, download=False, seed=0, search_val_size=32,
                               search_train_size=64, train_size=160, test_size=100)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The whole DAG on the tiny config in a project copy whose default config it is (so DVC
    records it), once per session (shared by the workflow tests and the xdist workers, started in
    the background when collected: :mod:`shared_runs`): (repo, completed process)."""
    return shared_runs.result("tiny_run", shared_runs.root(tmp_path_factory))


@pytest.fixture(scope="session")
def second_run(tmp_path_factory):
    """The tiny config once more, up to one trained and evaluated network
    (``workflow_helpers.SECOND_RUN_TARGET``), in another copy: through the local SLURM cluster
    where it answers (CI), else locally. Compared with ``tiny_run`` by the determinism test and
    the SLURM tests, so the suite pays for one second run, not one per comparison."""
    return shared_runs.result("second_run", shared_runs.root(tmp_path_factory))


def _shared_runs_of(item) -> set[str]:
    return set(shared_runs.NAMES) & set(getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(config, items):
    """The tests that need a shared run go last (in their order), so the runs, started in the
    background at collection, go on while the other tests run."""
    items.sort(key=lambda item: bool(_shared_runs_of(item)))


def pytest_collection_finish(session):
    """Start in the background the shared runs that the selected tests need."""
    wanted = set().union(*(_shared_runs_of(item) for item in session.items))
    for name in sorted(wanted):
        shared_runs.start(name, shared_runs.root(session.config._tmp_path_factory))


def pytest_sessionfinish(session):
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # the controller, after every worker, or a plain run
        shared_runs.stop_unfinished(shared_runs.root(session.config._tmp_path_factory))
