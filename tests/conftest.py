import os

from hypothesis import settings

settings.register_profile("ci", deadline=None, print_blob=True, derandomize=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


import pytest  # noqa: E402
import torch  # noqa: E402

from autospace import data  # noqa: E402


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
    records it), once per session (shared by the workflow tests): (repo, completed process)."""
    from workflow_helpers import TINY, project_copy, snakemake

    repo = project_copy(tmp_path_factory.mktemp("wf") / "repo", default=TINY)
    proc = snakemake("--cores", "2", "--configfile", TINY, cwd=repo, timeout=1200)
    return repo, proc


@pytest.fixture(scope="session")
def second_run(tmp_path_factory):
    """The tiny config once more, in another copy: through the local SLURM cluster where it answers
    (CI), else locally. Compared with ``tiny_run`` by the determinism test and the SLURM tests, so
    the suite pays for one second run, not one per comparison."""
    from workflow_helpers import second_tiny_run

    return second_tiny_run(tmp_path_factory.mktemp("second") / "repo")
