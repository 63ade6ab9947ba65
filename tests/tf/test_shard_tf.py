"""The real-TF half of tests/unit/plan/test_shard.py (its docstring says what both guard)."""

from __future__ import annotations

import json

from harness.cli import main as cli_main
from harness.plan.matrix import Matrix
from harness.run.runner import Run, RunOptions

SMALL = Matrix(save=["2.12"], load=["2.12", "2.16"], models=["mlp"],
               formats=["h5", "tf-checkpoint"])


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


