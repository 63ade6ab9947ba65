"""The host's orchestration without TensorFlow: phases, status mapping, crash, timeout, garbage
results, disk full, resume, shards, signals and incomplete runs, driven by a stdlib-only stub
worker that speaks the worker's file protocol (tests/stub_worker.py).  Seconds, not minutes:
these run in the fast suite (`pytest -m "not tf"`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support import stub_backend

from harness.cli import main as cli
from harness.plan.cells import Cell
from harness.plan.matrix import Matrix
from harness.results.store import read_run
from harness.run.batch import Feed, HostIOError
from harness.run.runner import Run, RunOptions
from harness.vocab import FORMAT_LOADERS

H5 = len(FORMAT_LOADERS["h5"])
SM = len(FORMAT_LOADERS["savedmodel"])


@pytest.fixture(autouse=True)
def stub(monkeypatch, tmp_path):
    stub_backend.register()
    script = tmp_path / "stub-script.json"
    script.write_text("{}")
    monkeypatch.setenv("HARNESS_STUB_SCRIPT", str(script))

    def set_actions(actions: dict) -> None:
        script.write_text(json.dumps(actions))

    return set_actions


def run(tmp_path, run_id="r", **kw) -> Path:
    opts = dict(backend="stub", save=["2.12"], load=["2.16"], models=["mlp"],
                formats=["h5", "savedmodel"], results_dir=tmp_path / "results", run_id=run_id,
                cache_dir=tmp_path / "cache", jobs=2, cell_timeout=30)
    return Run(RunOptions(**(opts | kw))).execute().path


def statuses(path: Path) -> dict[tuple[str, str], str]:
    return {(r["format"], r["loader"]): r["status"] for r in read_run(path).rows}


def test_every_outcome_maps_to_its_status(tmp_path, stub):
    stub({"load:mlp/h5/keras.models.load_model": "load-error",
          "load:mlp/h5/h5py.File": "unsupported",
          "load:mlp/h5/keras.models.load_model[compile=False]": "mismatch",
          "save:mlp/savedmodel": "save-error"})
    path = run(tmp_path)
    got = statuses(path)
    assert got[("h5", "keras.models.load_model")] == "load-error"
    assert got[("h5", "h5py.File")] == "unsupported"
    assert got[("h5", "keras.models.load_model[compile=False]")] == "mismatch"
    assert got[("h5", "keras.models.load_model[custom_objects]")] == "pass"
    assert {got[("savedmodel", ld)] for ld in FORMAT_LOADERS["savedmodel"]} == {"save-error"}
    data = read_run(path)
    assert len(data.rows) == H5 + SM and data.missing == [] and data.completeness() is None
    row = next(r for r in data.rows if r["status"] == "mismatch")
    assert row["max_abs_diff"] == pytest.approx(1.0) and "predictions" in row["error"]


def test_crash_and_timeout_cost_one_cell_each(tmp_path, stub):
    stub({"load:mlp/h5/keras.models.load_model": "abort",
          "load:mlp/h5/h5py.File": "hang"})
    path = run(tmp_path, cell_timeout=2)
    got = statuses(path)
    assert got[("h5", "keras.models.load_model")] == "crash"
    assert got[("h5", "h5py.File")] == "timeout"
    others = [s for k, s in got.items() if k not in {("h5", "keras.models.load_model"),
                                                    ("h5", "h5py.File")}]
    assert others and set(others) == {"pass"}  # fresh workers finished the rest
    crash = next(r for r in read_run(path).rows if r["status"] == "crash")
    assert "SIGABRT" in crash["error"]


def test_a_save_that_crashes_makes_its_load_cells_save_errors(tmp_path, stub):
    stub({"save:mlp/h5": "abort"})
    got = statuses(run(tmp_path))
    assert {got[("h5", ld)] for ld in FORMAT_LOADERS["h5"]} == {"save-error"}
    assert {got[("savedmodel", ld)] for ld in FORMAT_LOADERS["savedmodel"]} == {"pass"}


def test_a_save_worker_killed_by_the_machine_makes_crash_cells_that_the_next_run_retries(
        tmp_path, stub):
    """SIGKILL (the OOM killer, `kill -9`) is not "could not save": the cells are `crash`, the
    save is not cached, and a later run with the save cache saves it again."""
    stub({"save:mlp/h5": "kill"})
    path = run(tmp_path)
    got = statuses(path)
    assert {got[("h5", ld)] for ld in FORMAT_LOADERS["h5"]} == {"crash"}
    row = next(r for r in read_run(path).rows if r["format"] == "h5")
    assert row["error"].startswith("the save crashed: ") and "SIGKILL" in row["error"]
    stub({})
    again = statuses(run(tmp_path, run_id="r2"))
    assert {again[("h5", ld)] for ld in FORMAT_LOADERS["h5"]} == {"pass"}


@pytest.mark.parametrize("action", ["garbage", "not-object"])
def test_an_unreadable_worker_result_is_that_cells_crash(tmp_path, stub, action):
    stub({"load:mlp/h5/h5py.File": action})
    path = run(tmp_path)
    row = next(r for r in read_run(path).rows if r["loader"] == "h5py.File")
    assert row["status"] == "crash" and row["error_type"] == "BadWorkerResult"
    assert len(read_run(path).rows) == H5 + SM


def test_disk_full_stops_the_run_instead_of_blaming_a_cell(tmp_path, stub):
    stub({"load:mlp/savedmodel/tf.saved_model.load": "enospc"})
    with pytest.raises(HostIOError, match="No space left"):
        run(tmp_path, jobs=1)
    data = read_run(tmp_path / "results" / "r")
    assert all(r["status"] != "crash" for r in data.rows)
    assert data.missing  # left for --resume, not recorded as a crash


def test_disk_full_on_the_command_line_says_how_to_resume(tmp_path, stub, capsys):
    stub({"load:mlp/savedmodel/tf.saved_model.load": "enospc"})
    rc = cli(["run", "--backend", "stub", "--save", "2.12", "--load", "2.16", "--models", "mlp",
              "--formats", "h5,savedmodel", "--results-dir", str(tmp_path), "--run-id", "r",
              "--cache-dir", str(tmp_path / "cache"), "-j", "1", "--quiet"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("harness:")]
    assert rc == 2 and len(err) == 1, err  # progress lines aside, one line says it all
    assert err[0].startswith("harness: error:") and "No space left on device" in err[0]
    assert f"--resume {tmp_path / 'r'}" in err[0]


def test_resume_runs_only_the_missing_cells_and_reads_no_garbage(tmp_path, stub):
    path = run(tmp_path)
    cells = path / "cells.jsonl"
    lines = cells.read_text().splitlines()
    # keep 3 rows, add a line that is JSON but no object, one that is cut, one row of no cell
    cells.write_text("\n".join(lines[:3] + ["[1, 2]", '{"save_tf": "2.12", "sta',
                                            json.dumps({"status": "pass"})]) + "\n")
    data = read_run(path)
    assert len(data.rows) == 3 and data.bad_lines == 3 and len(data.missing) == H5 + SM - 3
    Run(RunOptions(backend="stub", resume=path, cache_dir=tmp_path / "cache")).execute()
    data = read_run(path)
    assert len(data.rows) == H5 + SM and data.missing == []
    assert {r["status"] for r in data.rows} == {"pass"}


def test_readers_survive_rows_that_are_not_objects(tmp_path, capsys):
    path = run(tmp_path)
    with open(path / "cells.jsonl", "a") as f:
        f.write("[1, 2]\n42\n\"text\"\nnull\n")
    for args in (["show", str(path)], ["report", str(path), "--out", str(tmp_path / "rep")],
                 ["diff", str(path), str(path)], ["check", str(path)],
                 ["merge", str(path), "--out", str(tmp_path / "m")]):
        rc = cli(args)
        out = capsys.readouterr()
        assert "internal error" not in out.err, (args, out.err)
        assert rc in (0, 1), (args, rc, out.err)


def test_check_is_never_green_on_an_incomplete_run(tmp_path, capsys):
    path = run(tmp_path)
    exps = tmp_path / "none.toml"
    exps.write_text("")
    assert cli(["check", str(path), "--expectations", str(exps)]) == 0
    cells = path / "cells.jsonl"
    lines = cells.read_text().splitlines()
    cells.write_text("\n".join(lines[:4]) + "\n")
    capsys.readouterr()
    assert cli(["check", str(path), "--expectations", str(exps)]) == 1
    out = capsys.readouterr().out
    assert f"{H5 + SM - 4} of {H5 + SM} planned cells are missing" in out
    assert out.count("MISSING") == H5 + SM - 4
    cells.write_text("")
    assert cli(["check", str(path), "--expectations", str(exps)]) == 1
    cells.unlink()
    assert cli(["check", str(path), "--expectations", str(exps)]) == 1


def test_shards_merge_into_the_whole_plan_and_a_lost_shard_is_not_green(tmp_path, capsys):
    matrix = Matrix(save=["2.12"], load=["2.12", "2.16"], models=["mlp"],
                    formats=["h5", "savedmodel"])
    runs = [run(tmp_path, run_id=f"s{k}", matrix=matrix, shard=(k, 2)) for k in (1, 2)]
    shard_rows = [read_run(r).rows for r in runs]
    assert len(shard_rows[0]) + len(shard_rows[1]) == len(matrix.cells())
    assert cli(["merge", *map(str, runs), "--out", str(tmp_path / "all")]) == 0
    assert len(read_run(tmp_path / "all").rows) == len(matrix.cells())
    capsys.readouterr()
    assert cli(["merge", str(runs[0]), "--out", str(tmp_path / "half")]) == 2
    assert "planned cells are in no run given" in capsys.readouterr().err
    assert cli(["merge", str(runs[0]), "--out", str(tmp_path / "half2"),
                "--allow-missing"]) == 1
    assert cli(["check", str(tmp_path / "half2")]) == 1


def test_gpu_cells_are_unsupported_without_starting_a_worker(tmp_path):
    path = run(tmp_path, load_devices=["gpu"], formats=["h5"])
    rows = read_run(path).rows
    assert {r["status"] for r in rows} == {"unsupported"}
    assert {r["error_type"] for r in rows} == {"NoDevice"}
    assert not list((path / "work").glob("load-*"))


def test_rows_carry_no_machine_paths(tmp_path, stub):
    stub({"load:mlp/h5/h5py.File": "abort"})
    path = run(tmp_path)
    text = (path / "cells.jsonl").read_text()
    assert str(tmp_path) not in text and "<run>/work/" in text


def test_same_cells_same_rows_whatever_the_order(tmp_path):
    one = run(tmp_path, run_id="a", jobs=1)
    two = run(tmp_path, run_id="b", jobs=2, batch_size=2)
    assert statuses(one) == statuses(two)
    assert {Cell.from_row(r) for r in read_run(one).rows} == \
        {Cell.from_row(r) for r in read_run(two).rows}


def _harness(tmp_path, *args) -> subprocess.Popen:
    env = dict(os.environ, HARNESS_STUB_DELAY="0.5")
    return subprocess.Popen([sys.executable, str(Path(stub_backend.__file__)), "run",
                             "--backend", "stub", *args, "--results-dir", str(tmp_path),
                             "--run-id", "r", "--cache-dir", str(tmp_path / "cache"), "-j", "1",
                             "--quiet"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # (SIGINT as a terminal gives it, also when the suite runs in a background job that
    # inherited it ignored: see test_resume.default_sigint)


def _workers_of(path: Path) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(path).encode() in cmdline.read_bytes() and b"stub_worker" in \
                    cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_stops_workers_keeps_cells_and_names_the_resume(tmp_path, sig):
    proc = _harness(tmp_path, "--save", "2.12", "--load", "2.16", "--models", "mlp",
                    "--formats", "h5,savedmodel")
    cells = tmp_path / "r" / "cells.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (cells.exists() and cells.read_text().strip()):
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"harness run --resume {tmp_path / 'r'}" in err
    time.sleep(0.5)
    assert _workers_of(tmp_path) == []
    data = read_run(tmp_path / "r")
    assert data.rows and data.missing and all(r["status"] == "pass" for r in data.rows)


def test_presaved_artifacts_are_loaded_without_a_save_environment(tmp_path):
    """The plug fixtures and `try` use: an explicit plan whose save side is an artifact this
    run did not make (here: one a first run saved), loaded and judged like any other cell."""
    from harness.run.runner import Presaved

    first = run(tmp_path, run_id="first", formats=["h5"])
    art = next((first / "artifacts").iterdir()) / "mlp"
    pre = Presaved("2.13.1", "my-model", "h5", art / "h5", art,
                   manifest=json.loads((art / "h5" / "manifest.json").read_text()),
                   versions={"tf": "2.13.1"}, identity={"fixture": "my-model"})
    cells = [Cell("2.13.1", "cpu", "2.16", "cpu", "my-model", "h5", ld)
             for ld in FORMAT_LOADERS["h5"]]
    path = Run(RunOptions(backend="stub", cells=cells, presaved=[pre],
                          results_dir=tmp_path / "results", run_id="fx",
                          cache_dir=tmp_path / "cache")).execute().path
    data = read_run(path)
    assert {r["status"] for r in data.rows} == {"pass"} and data.missing == []
    assert {r["save_versions"]["tf"] for r in data.rows} == {"2.13.1"}
    assert not list((path / "work").glob("save-*"))  # nothing was saved
    # the plan and the artifacts are in run.json: resume rebuilds both
    lines = (path / "cells.jsonl").read_text().splitlines()
    (path / "cells.jsonl").write_text(lines[0] + "\n")
    Run(RunOptions(backend="stub", resume=path, cache_dir=tmp_path / "cache")).execute()
    assert len(read_run(path).rows) == len(cells)


def test_a_second_run_reuses_every_load_that_nothing_changed(tmp_path, stub):
    stub({"load:mlp/h5/h5py.File": "abort", "load:mlp/h5/keras.models.load_model": "mismatch"})
    first = run(tmp_path, run_id="one")
    second = run(tmp_path, run_id="two")
    rows = {(r["format"], r["loader"]): r for r in read_run(second).rows}
    assert statuses(first) == statuses(second)
    reused = {k for k, r in rows.items() if r["reused_from"] == "one"}
    # everything but the crash (never reused: it may be the machine's doing) came from run one
    assert reused == set(rows) - {("h5", "h5py.File")}
    assert rows[("h5", "keras.models.load_model")]["status"] == "mismatch"  # re-judged
    assert len(list((second / "work").glob("load-*"))) == 1  # only the crashed cell ran
    fresh = run(tmp_path, run_id="three", load_cache=False)
    assert {r["reused_from"] for r in read_run(fresh).rows} == {None}


def test_only_the_changed_environment_reruns(tmp_path):
    both = dict(load=["2.12", "2.16"])
    run(tmp_path, run_id="one", **both)
    run(tmp_path, run_id="two", load=["2.12", "2.16"], load_devices=["cpu-noonednn"])
    third = run(tmp_path, run_id="three", **both)
    rows = read_run(third).rows
    assert {r["reused_from"] for r in rows} == {"one"}
    # a load environment that resolves differently is a different key: nothing reused there
    from harness.cache.loads import LoadCache
    entries = list((tmp_path / "cache" / "loads").glob("*/*/result.json"))
    assert len(entries) == 2 * len(rows)  # cpu and cpu-noonednn kept apart
    assert LoadCache  # imported for its documentation of the key


def test_a_tampered_load_cache_entry_is_not_used(tmp_path):
    run(tmp_path, run_id="one", formats=["h5"])
    for arrays in (tmp_path / "cache" / "loads").glob("*/*/arrays.npz"):
        arrays.write_bytes(arrays.read_bytes()[:-8] + b"tampered")
    rows = read_run(run(tmp_path, run_id="two", formats=["h5"])).rows
    assert {r["reused_from"] for r in rows} == {None}
    assert {r["status"] for r in rows} == {"pass"}


def test_a_reused_cell_reads_its_verdict_unless_the_judging_changed(tmp_path, monkeypatch):
    """The verdict judged from a cache entry is kept beside it: an unchanged night does not
    judge again; other tolerances (or comparison code) do, and so does a damaged verdict."""
    import harness.verdict.rows

    judged = []
    real_judge = harness.verdict.rows.judge
    monkeypatch.setattr(harness.verdict.rows, "judge", lambda *a, **k: judged.append(1) or
                        real_judge(*a, **k))
    first = run(tmp_path, run_id="one", formats=["h5"])
    passed = sum(r["status"] == "pass" for r in read_run(first).rows)
    verdicts = list((tmp_path / "cache" / "loads").glob("*/*/verdict-*.json"))
    assert len(judged) == len(verdicts) == passed > 0
    second = run(tmp_path, run_id="two", formats=["h5"])
    assert len(judged) == passed and statuses(second) == statuses(first)  # none judged again
    assert {r["reused_from"] for r in read_run(second).rows} == {"one"}
    verdicts[0].write_text("{not json")
    assert statuses(run(tmp_path, run_id="three", formats=["h5"])) == statuses(first)
    assert len(judged) == passed + 1  # the damaged one only
    looser = Matrix(save=["2.12"], load=["2.16"], models=["mlp"], formats=["h5"],
                    tolerances={("*", "float32"): (1e-3, 1e-3)})
    rows = read_run(run(tmp_path, run_id="four", matrix=looser)).rows
    assert len(judged) == 2 * passed + 1 and {r["reused_from"] for r in rows} == {"one"}
    assert {r["rtol"] for r in rows if r["status"] == "pass"} == {1e-3}


def _lifetimes(trace: Path) -> list[tuple[str, float, float]]:
    """(phase, start, end) of every stub worker process of a run."""
    out = []
    for f in trace.iterdir():
        if f.name.endswith("-end"):
            continue
        pid = f.name.split("-")[0]
        phase, start = f.read_text().split()
        end = trace / f"{pid}-end"
        out.append((phase, float(start), float(end.read_text()) if end.exists() else 1e18))
    return out


def test_loads_start_while_saves_run_and_never_more_than_j_workers(tmp_path, monkeypatch):
    trace = tmp_path / "trace"
    trace.mkdir()
    monkeypatch.setenv("HARNESS_STUB_TRACE", str(trace))
    monkeypatch.setenv("HARNESS_STUB_DELAY", "0.25")  # each cell: well above the host's poll
    path = run(tmp_path, models=["mlp", "cnn"], load=["2.16"], jobs=2, load_cache=False)
    assert len(read_run(path).rows) == 2 * (H5 + SM) and not read_run(path).missing
    lives = _lifetimes(trace)
    saves = [lf for lf in lives if lf[0] == "save"]
    loads = [lf for lf in lives if lf[0] == "load"]
    assert saves and loads
    # pipelined: a load worker was already running before the last save worker ended
    assert min(s for _, s, _ in loads) < max(e for _, _, e in saves)
    assert _busiest(lives) <= 2  # bounded: at no moment more worker processes than -j


def test_batch_size_recycles_a_streamed_worker(tmp_path):
    path = run(tmp_path, batch_size=2, jobs=1, load_cache=False)
    batches = list((path / "work").glob("load-*/batch-*.json"))
    assert len(batches) >= (H5 + SM) // 2  # a fresh worker every two cells
    assert {r["status"] for r in read_run(path).rows} == {"pass"}


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_load_worker_that_cannot_start_fails_its_cells_and_the_run_ends(tmp_path,
                                                                           monkeypatch, jobs):
    monkeypatch.setenv("HARNESS_STUB_IMPORT_FAIL", "load")
    path = run(tmp_path, jobs=jobs, load_cache=False)
    rows = read_run(path).rows
    assert len(rows) == H5 + SM
    assert {r["error_type"] for r in rows} == {"WorkerStartFailed"}
    assert all("stub: no TF here" in r["error"] for r in rows)


def _busiest(lives) -> int:
    moments = sorted(t for _, s, e in lives for t in (s, e) if t < 1e18)
    return max(sum(1 for _, s, e in lives if s <= t < e) for t in moments)


def _traced_phases(tmp_path, monkeypatch, delay: str, **kw):
    """A stub run whose worker processes leave their lifetimes: (saves, loads, all), after
    checking that no cell is missing."""
    trace = tmp_path / "trace"
    trace.mkdir()
    monkeypatch.setenv("HARNESS_STUB_TRACE", str(trace))
    monkeypatch.setenv("HARNESS_STUB_DELAY", delay)
    assert not read_run(run(tmp_path, load_cache=False, **kw)).missing
    lives = _lifetimes(trace)
    return ([lf for lf in lives if lf[0] == "save"], [lf for lf in lives if lf[0] == "load"],
            lives)


def test_loads_wait_for_no_save_and_a_slot_never_idles_behind_them(tmp_path, monkeypatch):
    """Two load environments, -j 2: the saves keep one slot and the other goes to a load
    worker at once; no save ever waits behind load workers; never more than -j processes."""
    saves, loads, lives = _traced_phases(tmp_path, monkeypatch, "0.25", models=["mlp", "cnn"],
                                         load=["2.12", "2.16"], jobs=2)
    assert len(saves) == 1  # one slot for the saves, the other for the loads beside them
    assert min(s for _, s, _ in loads) < max(e for _, _, e in saves)
    assert _busiest(lives) <= 2


def test_saves_of_several_environments_come_before_any_load(tmp_path, monkeypatch):
    """Two save environments and -j 1: the second save job is never kept waiting by a load
    worker that took the slot first."""
    saves, loads, lives = _traced_phases(tmp_path, monkeypatch, "0.05", save=["2.12", "2.16"],
                                         load=["2.12", "2.16"], jobs=1)
    assert len(saves) == 2 and min(s for _, s, _ in loads) >= max(e for _, _, e in saves)
    assert _busiest(lives) <= 1


def test_an_environment_left_alone_gets_a_second_worker(tmp_path, monkeypatch):
    """Work stealing: once the saves are done, the free slot goes to a second worker of the
    load environment that still has much to do (its share above load_phase.IMPORT_MARGIN times
    a TF import)."""
    from harness.run import load_phase

    monkeypatch.setattr(load_phase, "IMPORT_SECONDS", 0.2)  # the stub's versions.json has none
    trace = tmp_path / "trace"
    trace.mkdir()
    monkeypatch.setenv("HARNESS_STUB_TRACE", str(trace))
    monkeypatch.setenv("HARNESS_STUB_DELAY", "0.1")
    path = run(tmp_path, models=["mlp", "cnn"], jobs=2, load_cache=False)
    data = read_run(path)
    assert not data.missing and len(data.rows) == 2 * (H5 + SM)
    lives = _lifetimes(trace)
    loads = sorted(lf for lf in lives if lf[0] == "load")
    saves_end = max(e for p, _, e in lives if p == "save")
    assert len(loads) == 2 and max(s for _, s, _ in loads) >= saves_end
    assert _busiest(lives) <= 2


def test_a_save_worker_goes_on_loading_in_its_own_environment(tmp_path, monkeypatch):
    """Save and load in the same two environments, -j 2: each environment's save worker loads
    next (one TF import each), so the whole run takes two worker processes; every cell is there
    once, and a crash among the loads it took is still that cell's alone."""
    trace = tmp_path / "trace"
    trace.mkdir()
    monkeypatch.setenv("HARNESS_STUB_TRACE", str(trace))
    stub_script = {"load:cnn/h5/h5py.File": "abort"}
    Path(os.environ["HARNESS_STUB_SCRIPT"]).write_text(json.dumps(stub_script))
    path = run(tmp_path, save=["2.12", "2.16"], load=["2.12", "2.16"],
               models=["mlp", "cnn"], jobs=2, load_cache=False)
    data = read_run(path)
    assert not data.missing and len(data.rows) == 4 * 2 * (H5 + SM)
    crashed = {(r["save_tf"], r["load_tf"]) for r in data.rows if r["status"] == "crash"}
    assert crashed == {(s, ld) for s in ("2.12", "2.16") for ld in ("2.12", "2.16")}
    assert all(r["model"] == "cnn" and r["loader"] == "h5py.File"
               for r in data.rows if r["status"] == "crash")
    lives = _lifetimes(trace)
    assert {p for p, _, _ in lives} == {"save"}  # no worker was started for loads alone
    # two to begin with, and a fresh one after each crash
    assert len(lives) == 2 + len([r for r in data.rows if r["status"] == "crash"])


def test_no_load_worker_starts_when_the_load_cache_has_every_cell(tmp_path, monkeypatch):
    run(tmp_path, run_id="one")
    trace = tmp_path / "trace"
    trace.mkdir()
    monkeypatch.setenv("HARNESS_STUB_TRACE", str(trace))
    rows = read_run(run(tmp_path, run_id="two")).rows
    assert {r["reused_from"] for r in rows} == {"one"}
    assert not [lf for lf in _lifetimes(trace) if lf[0] == "load"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_worker_that_dies_of_a_full_disk_before_any_cell_stops_the_run(tmp_path,
                                                                         monkeypatch, jobs):
    monkeypatch.setenv("HARNESS_STUB_START_ENOSPC", "load")
    with pytest.raises(HostIOError, match="No space left"):
        run(tmp_path, jobs=jobs, load_cache=False)
    data = read_run(tmp_path / "results" / "r")
    assert not any(r["status"] == "crash" for r in data.rows) and data.missing


def test_a_waiting_host_wakes_when_the_feed_grows():
    """Between its looks at a worker the host naps on the feed: a request that arrives is
    handed on at once, not at the next look (a worker with nothing to do idles meanwhile)."""
    feed = Feed()
    threading.Timer(0.1, feed.put, [["l0001"]]).start()
    t0 = time.monotonic()
    feed.nap(60)
    assert time.monotonic() - t0 < 60 and feed.take(1) == ["l0001"]
    feed.close()
    t0 = time.monotonic()
    feed.nap(0.05)  # a closed feed: a plain sleep, never a busy loop
    assert time.monotonic() - t0 >= 0.05


def test_shards_cut_by_measured_seconds_tile_the_plan_and_resume_the_same_slice(tmp_path,
                                                                                 capsys):
    """--shard-costs: the cut follows an earlier run's seconds, is recorded, and a resumed shard
    finishes exactly its own slice; shards cut by different costs are refused by merge."""
    from harness.results.costs import read_costs

    matrix = Matrix(save=["2.12"], load=["2.12", "2.16"], models=["mlp"],
                    formats=["h5", "savedmodel"])
    whole = run(tmp_path, run_id="whole", matrix=matrix)
    lines = (whole / "cells.jsonl").read_text().splitlines()
    rows = [json.loads(ln) for ln in lines]
    for r in rows:  # make the 2.16 side ten times dearer than the 2.12 side
        r["seconds"] = 10.0 if r["load_tf"] == "2.16" else 1.0
    (whole / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    costs = read_costs(whole)
    runs = [run(tmp_path, run_id=f"c{k}", matrix=matrix, shard=(k, 2), shard_costs=costs)
            for k in (1, 2)]
    sizes = [len(read_run(r).rows) for r in runs]
    assert sum(sizes) == len(matrix.cells()) and sizes[0] > sizes[1]  # the cheap side is longer
    info = json.loads((runs[0] / "run.json").read_text())["matrix"]
    assert info["shard_costs"] == "whole" and info["shard_bounds"] == [0, sizes[0]]
    # resume of the second shard with one cell lost: that cell again, nothing of the first's
    second = runs[1] / "cells.jsonl"
    kept = second.read_text().splitlines()
    second.write_text("\n".join(kept[:-1]) + "\n")
    resumed = Run(RunOptions(backend="stub", resume=runs[1], cache_dir=tmp_path / "cache",
                             jobs=2, cell_timeout=30)).execute().path
    assert len(read_run(resumed).rows) == sizes[1]
    assert cli(["merge", *map(str, runs), "--out", str(tmp_path / "all")]) == 0
    merged = read_run(tmp_path / "all")
    assert {Cell.from_row(r).key() for r in merged.rows} == {c.key() for c in matrix.cells()}
    by_count = run(tmp_path, run_id="n1", matrix=matrix, shard=(1, 2))
    capsys.readouterr()
    assert cli(["merge", str(by_count), str(runs[1]), "--out", str(tmp_path / "mixed")]) == 2
    assert "their slices do not tile the plan" in capsys.readouterr().err


def test_two_machines_filling_one_shared_save_cache_at_once_corrupt_nothing(tmp_path):
    """--save-cache-dir on a folder two hosts share: two `--save-only` runs race on the same
    entries (the stub worker makes the saves); one makes each save, the other takes it from the
    cache after the entry's lock, and a third run loads every cell from it, none rejected."""
    shared = tmp_path / "shared-saves"
    args = ["run", "--backend", "stub", "--save", "2.12", "--load", "2.16", "--models",
            "mlp,cnn", "--formats", "h5,savedmodel", "--save-cache-dir", str(shared),
            "--quiet", "-j", "2"]
    procs = [subprocess.Popen([sys.executable, str(Path(stub_backend.__file__)), *args,
                               "--save-only", "--cache-dir", str(tmp_path / f"cache{i}"),
                               "--results-dir", str(tmp_path / f"r{i}"), "--run-id", "s"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in (1, 2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    infos = [json.loads((tmp_path / f"r{i}" / "s" / "run.json").read_text()) for i in (1, 2)]
    saves = 2 * 2  # models x formats, saved under 2.12 (the 2.12 -> 2.12 baseline reuses them)
    hits = sorted(i["save_cache_hits"] for i in infos)
    assert sum(hits) <= saves and hits[1] > 0, hits  # the second waited and reused
    assert not any(shared.rglob(".rejected")), list(shared.rglob(".rejected"))
    third = subprocess.run([sys.executable, str(Path(stub_backend.__file__)), *args,
                            "--cache-dir", str(tmp_path / "cache3"), "--results-dir",
                            str(tmp_path / "r3"), "--run-id", "l"],
                           capture_output=True, text=True, timeout=120)
    assert third.returncode == 0, third.stderr
    info = json.loads((tmp_path / "r3" / "l" / "run.json").read_text())
    assert info["save_cache_hits"] == saves
    rows = read_run(tmp_path / "r3" / "l").rows
    assert rows and {r["status"] for r in rows} <= {"pass", "unsupported"}
    assert "rejected" not in third.stdout + third.stderr


def test_a_rewritten_load_cache_entry_or_verdict_is_not_believed(tmp_path, stub):
    """The load cache signs what it writes (cache.key, this machine's, 0600): a result.json or a
    verdict-*.json rewritten whole, digests and all, is run or judged again, never reused."""
    stub({"load:mlp/h5/keras.models.load_model": "load-error"})
    first = run(tmp_path)
    loads = tmp_path / "cache" / "loads"
    assert (loads / "cache.key").stat().st_mode & 0o077 == 0
    results = sorted(loads.glob("*/*/result.json"))
    verdicts = sorted(loads.glob("*/*/verdict-*.json"))
    assert results and verdicts
    # turn the load-error into an ok result, and a verdict's mismatch/pass into something else
    for path in results:
        data = json.loads(path.read_text())
        if data.get("status") == "load-error":
            data |= {"status": "ok", "error": None, "error_type": None}
            path.write_text(json.dumps(data))
    for path in verdicts:
        data = json.loads(path.read_text())
        data |= {"status": "pass", "error": None}
        path.write_text(json.dumps(data))
    again = run(tmp_path, run_id="r2")
    info = json.loads((again / "run.json").read_text())
    assert statuses(again) == statuses(first)  # nothing the rewrite said was believed
    edited = [r for r in read_run(again).rows if r["loader"] == "keras.models.load_model"
              and r["format"] == "h5"]
    assert edited[0]["status"] == "load-error"
    assert info["load_cache_hits"] < len(read_run(again).rows)
