"""A run is green only when it is whole and consistent (issue 27, false greens): a cell with rows
that disagree, a row outside the plan, a pass row its own figures contradict; and `merge` of runs
that disagree on a cell or whose environments resolved differently refuses, naming it."""

from __future__ import annotations

import json

import pytest
from support.runs import make_run, row, sample_rows

from harness.cli import main


def append(run, *rows):
    with open(run / "cells.jsonl", "a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def green(run, capsys) -> tuple[int, str]:
    """check against no known incompatibility: every cell of these runs is meant to pass."""
    none = run.parent / "no-expectations.toml"
    none.write_text("")
    code = main(["check", str(run), "--expectations", str(none)])
    return code, capsys.readouterr().out


@pytest.fixture
def passing(tmp_path):
    """A complete run where every cell passes (check is green on it)."""
    rows = [r | {"status": "pass", "error": None, "error_type": None, "differs": None,
                 "params_equal": r.get("params_total")} for r in sample_rows()]
    return make_run(tmp_path, rows=rows)


def test_the_passing_run_is_green(passing, capsys):
    assert green(passing, capsys)[0] == 0


def test_a_cell_with_rows_that_disagree_is_not_green(passing, capsys):
    first = json.loads((passing / "cells.jsonl").read_text().splitlines()[0])
    append(passing, first | {"status": "load-error", "error_type": "ValueError", "error": "x"})
    code, out = green(passing, capsys)
    assert code == 1 and "1 cell(s) have rows that disagree" in out and "pass, then load-error" \
        in out
    assert main(["show", str(passing)]) == 0
    assert "rows that disagree" in capsys.readouterr().out.splitlines()[0]


def test_a_row_outside_the_plan_is_not_green(passing, capsys):
    append(passing, row("2.12", "2.21", "mlp", "h5", "h5py.File", "pass"))
    code, out = green(passing, capsys)
    assert code == 1 and "1 row(s) are for cells outside the run's plan" in out


@pytest.mark.parametrize(("change", "why"), [
    ({"params_total": 4, "params_equal": 0}, "parameters 0/4 bit-identical"),
    ({"max_abs_diff": float("nan")}, "max_abs_diff nan"),
    ({"max_abs_diff": "1e9"}, "max_abs_diff 1e9"),
    ({"differs": ["predictions"]}, "differs: predictions"),
])
def test_a_pass_row_its_own_figures_contradict_is_not_green(passing, capsys, change, why):
    lines = (passing / "cells.jsonl").read_text().splitlines()
    first = json.loads(lines[0]) | change
    (passing / "cells.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    code, out = green(passing, capsys)
    assert code == 1 and "pass row(s) contradict their own figures" in out and why in out


def _shards(tmp_path, second_change=None, env_change=None):
    rows = sample_rows()
    half = len(rows) // 2
    a = make_run(tmp_path, name="a", rows=rows[:half + 1])
    b_rows = rows[half:]
    if second_change:
        b_rows = [b_rows[0] | second_change, *b_rows[1:]]
    b = make_run(tmp_path, name="b", rows=b_rows)
    if env_change:
        info = json.loads((b / "run.json").read_text())
        info["environments"]["2.16"]["resolved"] |= env_change
        (b / "run.json").write_text(json.dumps(info))
    return a, b


def test_merge_refuses_runs_that_disagree_on_a_cell_unless_told_which_wins(tmp_path, capsys):
    a, b = _shards(tmp_path, second_change={"status": "load-error", "error_type": "E",
                                            "error": "boom"})
    first = json.loads((a / "cells.jsonl").read_text().splitlines()[-1])
    assert main(["merge", str(a), str(b), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{first['status']} vs load-error" in err and "--prefer" in err
    assert not (tmp_path / "m").exists()
    for prefer, status in (("first", first["status"]), ("last", "load-error")):
        out = tmp_path / f"m-{prefer}"
        assert main(["merge", str(a), str(b), "--out", str(out), "--prefer", prefer]) == 0
        rows = [json.loads(ln) for ln in (out / "cells.jsonl").read_text().splitlines()]
        key = ("save_tf", "load_tf", "model", "format", "loader")
        kept = [r for r in rows if all(r[k] == first[k] for k in key)]
        assert [r["status"] for r in kept] == [status]


def test_merge_refuses_shards_whose_environments_resolved_differently(tmp_path, capsys):
    a, b = _shards(tmp_path, env_change={"keras": "3.0.0"})
    assert main(["merge", str(a), str(b), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "2.16: keras 3.15.1 in" in err and "3.0.0 in" in err and "--allow-mixed" in err
    assert main(["merge", str(a), str(b), "--out", str(tmp_path / "m2"), "--allow-mixed"]) == 0
    info = json.loads((tmp_path / "m2" / "run.json").read_text())
    assert info["merge"]["mixed_environments"][0].startswith("2.16: keras")
