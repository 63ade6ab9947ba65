"""A small real run (TF 2.12 and 2.16, both ways and the diagonal, two models, the five core
formats), then everything the reports half does with it: the reports, `harness check` against
matrix/expectations.toml (green as run, red when one cell of a copy is flipped either way), and
`harness advise`.  The expected statuses are not written here: they are the expectations file's."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from support.paths import REPO

from harness.cli import main
from harness.run.runner import Run, RunOptions

pytestmark = [pytest.mark.tf]


EXPECTATIONS = REPO / "matrix" / "expectations.toml"
CORE_FORMATS = ["savedmodel", "keras", "h5", "weights-h5", "tf-checkpoint"]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, cache_dir, uv_available):
    opts = RunOptions(load_cache=False,
                      save=["2.12", "2.16"], load=["2.12", "2.16"], models=["mlp", "cnn"],
                      formats=CORE_FORMATS, results_dir=tmp_path_factory.mktemp("results"),
                      cache_dir=cache_dir, jobs=2)
    return Run(opts).execute().path


def copy_with(run: Path, dest: Path, change) -> tuple[Path, dict]:
    """A copy of the run whose cells.jsonl has one row changed by `change` (first it accepts)."""
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("artifacts", "work", "report"))
    rows = [json.loads(ln) for ln in (dest / "cells.jsonl").read_text().splitlines()]
    target = next(r for r in rows if change(r))
    (dest / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return dest, target


def test_reports_of_a_real_run(real_run, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the default report formats include the PNG")
    out = tmp_path / "report"
    assert main(["report", str(real_run), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    info = json.loads((real_run / "run.json").read_text())
    for label in ("2.12", "2.16"):
        resolved = info["environments"][label]["resolved"]
        assert f"| {label} | {resolved['tf']} | {resolved['keras']} |" in md
    for fmt in CORE_FORMATS:
        assert f"## {fmt}\n" in md
    assert "## Errors" in md and "File format not supported" in md
    with open(out / "cells.csv", newline="") as f:
        rows = list(csv.DictReader(f))  # an error message may span lines inside its quotes
    assert len(rows) == len((real_run / "cells.jsonl").read_text().splitlines())
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    assert "harness: error" not in capsys.readouterr().err


def test_check_is_green_on_the_real_run(real_run, capsys):
    code = main(["check", str(real_run), "--expectations", str(EXPECTATIONS)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert " 0 new failures, 0 expected failures now pass, 0 changed status" in out


def test_check_turns_red_when_a_passing_cell_fails(real_run, tmp_path, capsys):
    def flip(r):
        if r["status"] == "pass" and r["format"] == "savedmodel" and r["save_tf"] != r["load_tf"]:
            r.update(status="load-error", error_type="OSError", error="flipped by the test")
            return True
        return False

    copy, cell = copy_with(real_run, tmp_path / "flipped", flip)
    assert main(["check", str(copy), "--expectations", str(EXPECTATIONS)]) == 1
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if ln.startswith("NEW FAILURE")]
    assert f"{cell['save_tf']} -> {cell['load_tf']} {cell['model']} / savedmodel / " \
           f"{cell['loader']}: load-error OSError: flipped by the test" in line
    assert "[[expect]]" in out


def test_check_turns_red_when_a_known_failure_passes(real_run, tmp_path, capsys):
    def flip(r):
        if r["status"] == "load-error" and r["format"] == "h5":
            r.update(status="pass", error_type=None, error=None)
            return True
        return False

    copy, cell = copy_with(real_run, tmp_path / "fixed", flip)
    assert main(["check", str(copy), "--expectations", str(EXPECTATIONS)]) == 1
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("NOW PASSES")]
    assert f"{cell['model']} / h5 / {cell['loader']}: expected load-error by entry #" in line


def test_advise_on_the_real_run(real_run, capsys):
    assert main(["advise", "--from", "2.12", "--to", "2.16", str(real_run)]) == 0
    out = capsys.readouterr().out
    sm = out.split("\nsavedmodel\n", 1)[1].split("\n\n", 1)[0]
    assert "keras.models.load_model" in sm
    # keras.models.load_model never read a SavedModel under 2.12 either: not the upgrade's break
    assert "  already keras.models.load_model: already fails under 2.12 -> 2.12" in sm
    # the restore and the loaders that say the same of it are one entry
    assert re.search(r"\n  BREAKS  tf\.train\.Checkpoint\.restore(, [^:\n]+)?: breaks under "
                     r"2\.16: silently wrong for", out), out
