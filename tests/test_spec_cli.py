import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from autospace.cli import main
from autospace.errors import SpecError
from autospace.arch.spec import load_spec, spec_from_json
from autospace.arch.zoo import BUILTIN
from randomspecs import random_network, with_change


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_spec_json_round_trip(name):
    spec = BUILTIN[name]()
    again = spec_from_json(json.loads(spec.dumps()))
    assert again == spec and again.dumps() == spec.dumps()


@pytest.mark.parametrize("seed", range(20))
def test_random_spec_round_trip(seed):
    spec = random_network(random.Random(seed))
    assert spec_from_json(json.loads(spec.dumps())) == spec


BASE = json.loads(BUILTIN["mobilenet_v2"](num_classes=10, in_channels=1, resolution=28).dumps())


def _bad(path, value=None, delete=False):
    return with_change(BASE, path, value, delete)


BAD_SPECS = [
    (_bad(["resolution"], 4), "resolution"),
    (_bad(["resolution"], "28"), "resolution"),
    (_bad(["num_classes"], 0), "num_classes"),
    (_bad(["in_channels"], 2.5), "in_channels"),
    (_bad(["width_mult"], 9), "width_mult"),
    (_bad(["stem", "kernel"], 4), "stem.kernel"),
    (_bad(["stem", "activation"], "gelu"), "stem.activation"),
    (_bad(["stem", "colour"], 1), "stem.colour"),
    (_bad(["stages", 1, "stride"], 3), "stages[1].stride"),
    (_bad(["stages", 1, "depth"], 5), "stages[1].depth"),
    (_bad(["stages", 1, "blocks", 0], {"type": "skip"}), "stages[1].blocks[0]"),
    (_bad(["stages", 1, "blocks", 1], {"type": "conv"}), "stages[1].blocks[1].type"),
    (_bad(["stages", 1, "blocks", 1, "kernel"], 4), "stages[1].blocks[1].kernel"),
    (_bad(["stages", 2, "blocks", 0], {"type": "cell", "cell": "n=4 e=6 x=1 act=relu6 att=none merge=sum,sum "
                                       "edges=0>1:conv1x1,1>2:dw4x4,2>3:conv1x1"}),
     "stages[2].blocks[0].cell.edges[1>2]"),
    (_bad(["stages"], []), "stages"),
    (_bad(["head", "width"], delete=True), "head.width"),
    (_bad(["head", "dropout"], 1.5), "head.dropout"),
    (_bad(["name"], delete=True), "name"),
    (_bad(["shape"], [1]), "shape"),
]


@pytest.mark.parametrize("data,field", BAD_SPECS)
def test_bad_specs_name_the_field(data, field, tmp_path):
    with pytest.raises(SpecError) as info:
        spec_from_json(data)
    assert info.value.field == field
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"{path}: {field}: ")


def test_load_spec_reports_bad_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(SpecError, match=f"^{path}: spec: not valid JSON"):
        load_spec(path)


def test_arch_stats_prints_the_published_numbers():
    out = subprocess.run([sys.executable, "-m", "autospace.cli", "arch-stats", "mobilenet_v2"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == {"params": 3_504_872, "madds": 300_774_272}


def test_arch_stats_reads_spec_files_and_overrides(tmp_path, capsys):
    path = tmp_path / "net.json"
    path.write_text(BUILTIN["mnasnet_b1"]().dumps())
    assert main(["arch-stats", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"params": 4_383_312, "madds": 314_415_872}
    assert main(["arch-stats", str(path), "--input-size", "32", "--num-classes", "10", "--in-channels", "1"]) == 0
    small = json.loads(capsys.readouterr().out)
    assert small["madds"] < 10_000_000


def test_cell_stats(capsys):
    cell = "n=4 e=6 x=1 act=relu6 att=none merge=sum,sum edges=0>1:conv1x1,1>2:dw3x3,2>3:conv1x1"
    assert main(["cell-stats", cell, "--cin", "16", "--cout", "24", "--stride", "2", "--resolution", "112"]) == 0
    out = json.loads(capsys.readouterr().out)
    # MobileNetV2's second block: expand 16->96 at 112^2, dw 3x3 s2 at 56^2, project 96->24 at 56^2
    assert out["madds"] == 16 * 96 * 112 * 112 + 9 * 96 * 56 * 56 + 96 * 24 * 56 * 56
    assert out["params"] == 16 * 96 + 2 * 96 + 9 * 96 + 2 * 96 + 96 * 24 + 2 * 24


@pytest.mark.parametrize("argv,needle", [
    (["cell-stats", "n=4 e=6 x=1 act=relu6 att=none merge=sum,sum edges=0>1:conv1x1,2>1:dw3x3",
      "--cin", "8", "--cout", "8", "--resolution", "8"], "edges[2>1]: cycle"),
    (["cell-stats", "n=4 e=6 x=1 act=relu6 att=none merge=sum,sum edges=0>1:conv1x1,1>2:dw3x3,2>3:conv1x1",
      "--cin", "8", "--cout", "8", "--resolution", "8", "--stride", "3"], "--stride"),
    (["arch-stats", "resnet50"], "arch: neither a built-in"),
    (["workflow/audit_run.py", "no/such/results"], "results: not an experiment's folder under "),
    (["workflow/summary.py", "no/such/results"], "results: no tables/comparison.md: the run has not finished"),
])
def test_cli_bad_input_prints_one_line_and_exits_2(argv, needle):
    """The library's CLI, and the workflow's run tools (audit, summary), which read its layout."""
    command = [sys.executable] if argv[0].startswith("workflow/") else [sys.executable, "-m", "autospace.cli"]
    proc = subprocess.run([*command, *argv], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert needle in proc.stderr
