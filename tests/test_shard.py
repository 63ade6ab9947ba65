"""--shard K/N slices and `harness merge`: unit checks of the slicing, then two real shards of a
small matrix run and merged into one run equal to the whole plan."""

from __future__ import annotations

import json
import random

import pytest

from harness.cli import main as cli_main
from harness.matrix import Matrix
from harness.plan import PlanError, parse_shard, shard_cells
from harness.runner import Run, RunOptions

NIGHTLY = Matrix(save=[f"2.{i}" for i in range(12, 22)], load=[f"2.{i}" for i in range(12, 22)])


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8])
def test_shards_partition_the_plan(n):
    cells = NIGHTLY.cells()
    shards = [shard_cells(cells, k, n) for k in range(1, n + 1)]
    assert sum(len(s) for s in shards) == len(cells)
    assert set().union(*map(set, shards)) == set(cells)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    for s in shards:  # each slice keeps the plan's order
        chosen = set(s)
        assert s == [c for c in cells if c in chosen]


def test_shards_do_not_depend_on_plan_order():
    cells = NIGHTLY.cells()
    shuffled = list(cells)
    random.Random(7).shuffle(shuffled)
    for k in (1, 3):
        assert set(shard_cells(cells, k, 4)) == set(shard_cells(shuffled, k, 4))


def test_a_shard_keeps_load_environments_together():
    cells = NIGHTLY.cells()
    per_shard = [{c.load_tf for c in shard_cells(cells, k, 5)} for k in range(1, 6)]
    assert all(len(s) <= 3 for s in per_shard)  # 10 load versions over 5 shards


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "1", "1/2/3", "-1/2"])
def test_bad_shard(text):
    with pytest.raises(PlanError, match="bad --shard"):
        parse_shard(text)


SMALL = Matrix(save=["2.12"], load=["2.12", "2.16"], models=["mlp"],
               formats=["h5", "tf-checkpoint"])


@pytest.mark.tf
def test_two_real_shards_merge_into_the_whole_plan(tmp_path, cache_dir, uv_available, capsys):
    runs = []
    for k in (1, 2):
        run = Run(RunOptions(load_cache=False,
                             matrix=SMALL, shard=(k, 2), results_dir=tmp_path, run_id=f"s{k}",
                             cache_dir=cache_dir, jobs=2)).execute()
        runs.append(run)
    sizes = [len(r.rows()) for r in runs]
    planned = SMALL.cells()
    assert sum(sizes) == len(planned) and min(sizes) > 0
    info = json.loads((runs[0].path / "run.json").read_text())
    assert info["matrix"]["shard"] == [1, 2] and info["matrix"]["cells"] == sizes[0]

    out = tmp_path / "merged"
    assert cli_main(["merge", str(runs[0].path), str(runs[1].path), "--out", str(out)]) == 0
    assert f"{len(planned)} cells into {out}" in capsys.readouterr().out
    rows = [json.loads(ln) for ln in (out / "cells.jsonl").read_text().splitlines()]
    keys = {tuple(r[f] for f in ("save_tf", "save_device", "load_tf", "load_device", "model",
                                 "format", "loader")) for r in rows}
    assert keys == {c.key() for c in planned}
    merged = json.loads((out / "run.json").read_text())
    assert merged["matrix"]["shard"] is None and merged["merge"]["missing"] == 0
    assert [m["shard"] for m in merged["merged_from"]] == [[1, 2], [2, 2]]
    assert set(merged["environments"]) == {"2.12", "2.16"}

    # A shard missing: refused (exit 2) unless --allow-missing, which writes what it has, says
    # what is missing and exits 1; the half run is never green.
    capsys.readouterr()
    assert cli_main(["merge", str(runs[0].path), "--out", str(tmp_path / "half")]) == 2
    assert "planned cells are in no run given" in capsys.readouterr().err
    assert cli_main(["merge", str(runs[0].path), "--out", str(tmp_path / "half"),
                     "--allow-missing"]) == 1
    assert f"{sizes[1]} planned cell(s) are in no shard" in capsys.readouterr().err
    assert cli_main(["check", str(tmp_path / "half")]) == 1

    # Runs of different matrices do not merge; the out folder is not touched.
    other = tmp_path / "other"
    other.mkdir()
    info["matrix"]["definition"]["models"] = ["cnn"]
    (other / "run.json").write_text(json.dumps(info))
    rc = cli_main(["merge", str(runs[0].path), str(other), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and "ran another matrix" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
    rc = cli_main(["merge", str(runs[0].path), "--out", str(out)])  # never over a result
    assert rc == 2 and "exists and is not empty" in capsys.readouterr().err
