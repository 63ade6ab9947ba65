"""Every bad input is refused up front: one line on stderr naming it, exit 2, no traceback,
nothing written (issue 11)."""

from __future__ import annotations

import os

import pytest

from harness.cli import main as cli_main

GOOD = ["--save", "2.12", "--load", "2.12", "--models", "mlp", "--formats", "h5"]


def one_line_error(capsys, argv) -> str:
    rc = cli_main(argv)
    captured = capsys.readouterr()
    err = captured.err
    assert rc == 2, (rc, err)
    assert err.startswith("harness: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err + captured.out
    return err


@pytest.mark.parametrize("extra, msg", [
    (["--cell-timeout", "-1"], "--cell-timeout must be a number of seconds > 0, not -1"),
    (["--cell-timeout", "0"], "--cell-timeout must be a number of seconds > 0, not 0"),
    (["--cell-timeout", "nan"], "--cell-timeout must be a number of seconds > 0, not nan"),
    (["--cell-timeout", "inf"], "--cell-timeout must be a number of seconds > 0, not inf"),
    (["-j", "0"], "-j/--jobs must be at least 1, not 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1, not 0"),
    (["--shard", "0/2"], "bad --shard '0/2'"),
    (["--shard", "auto"], "--shard auto: no CI shard index in the environment"),
    (["--shard", "1/2", "--shard-costs", "/nonexistent/run"], "/nonexistent/run is not a run"),
    (["--as-of", "2099-13-45"], "--as-of '2099-13-45': not a real date"),
    (["--as-of", "2099-01-01"], "--as-of 2099-01-01 is in the future"),
    (["--as-of", "yesterday"], "--as-of 'yesterday': expected a date YYYY-MM-DD"),
    (["--run-id", "../../x"], "--run-id '../../x': must be a plain folder name"),
    (["--run-id", ".."], "--run-id '..': must be a plain folder name"),
    (["--run-id", ""], "--run-id '': must be a plain folder name"),
    (["--python", "/nonexistent/python3"], "--python /nonexistent/python3: no such interpreter"),
    (["--models", ","], "--models is empty"),
    (["--save", ""], "--save is empty"),
])
def test_bad_run_options(tmp_path, capsys, extra, msg):
    results = tmp_path / "results"
    err = one_line_error(capsys, ["run", *GOOD, "--results-dir", str(results),
                                  "--cache-dir", str(tmp_path / "cache"), *extra])
    assert msg in err
    assert not results.exists() and not (tmp_path / "x").exists()


def test_python_that_is_not_executable(tmp_path, capsys):
    py = tmp_path / "python3"
    py.write_text("#!/bin/sh\n")
    err = one_line_error(capsys, ["run", *GOOD, "--results-dir", str(tmp_path / "r"),
                                  "--python", str(py)])
    assert f"--python {py}: not an executable file" in err


def test_used_run_id_points_to_resume(tmp_path, capsys):
    (tmp_path / "results" / "r1").mkdir(parents=True)
    err = one_line_error(capsys, ["run", *GOOD, "--results-dir", str(tmp_path / "results"),
                                  "--run-id", "r1"])
    run = tmp_path / "results" / "r1"
    assert f"{run} exists: finish it with `harness run --resume {run}`" in err


@pytest.mark.parametrize("option", ["--results-dir", "--cache-dir", "--save-cache-dir"])
def test_folder_options_that_are_files(tmp_path, capsys, option):
    f = tmp_path / "afile"
    f.write_text("x")
    argv = ["run", *GOOD, "--results-dir", str(tmp_path / "r"), option, str(f)]
    err = one_line_error(capsys, argv)
    assert f"{option} {f} is a file, not a folder" in err
    below = f / "sub"
    err = one_line_error(capsys, [*argv[:-1], str(below)])
    assert f"{option} {below}: {f} is a file, not a folder" in err


@pytest.mark.skipif(not os.path.isdir("/proc/self"),
                    reason="needs /proc")
def test_results_dir_on_a_pseudo_filesystem(tmp_path, capsys):
    err = one_line_error(capsys, ["run", *GOOD, "--results-dir", "/proc/self/harness"])
    assert "--results-dir /proc/self/harness: cannot write in /proc/self" in err
    assert "[Errno" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_results_dir_not_writable(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        err = one_line_error(capsys, ["run", *GOOD, "--results-dir", str(ro / "results")])
    finally:
        ro.chmod(0o700)
    assert f"--results-dir {ro / 'results'}: cannot write in {ro}" in err


MATRIX = "[matrix]\nsave = ['2.16']\nload = ['2.16']\n"


@pytest.mark.parametrize("content, msg", [
    (b"", "empty file; a matrix spec needs a [matrix] table"),
    (b"  \n\n", "empty file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a text file"),
    (b"a = 1\x00", "not a text file (it holds NUL bytes)"),
    (b"[matrix\n", "bad TOML"),
    (b"title = 'x'\n", "unknown table(s) title"),
    (b"[tolerances]\n", "needs a [matrix] table with save and load"),
    ((MATRIX + "models = []\n").encode(), "[matrix] models is empty"),
    ((MATRIX + "formats = []\n").encode(), "[matrix] formats is empty"),
    (b"[matrix]\nsave = []\nload = ['2.16']\n", "[matrix] save is empty"),
    ((MATRIX + "models = ['']\n").encode(), "[matrix] models: holds an empty name"),
    ((MATRIX + "models = ['resnet']\n").encode(), "unknown model resnet"),
    ((MATRIX + "models = 3\n").encode(), "[matrix] models: expected a string or a list"),
    ((MATRIX + "as_of = '2099-13-45'\n").encode(), "[matrix] as_of '2099-13-45': not a real"),
    ((MATRIX + "as_of = 2099-01-01\n").encode(), "[matrix] as_of 2099-01-01 is in the future"),
    ((MATRIX + "name = 3\n").encode(), "[matrix] name must be a string"),
    ((MATRIX + "[[include]]\nmodels = ['mlp']\n[[include]]\nmodle = ['mlp']\n").encode(),
     "[[include]] #2: unknown key 'modle'"),
    ((MATRIX + "[[include]]\nmodels = 3\n").encode(),
     "[[include]] #1 models: expected a string or a list of strings, got 3"),
    ((MATRIX + "[[include]]\nmodels = []\n").encode(), "[[include]] #1 models is empty"),
    ((MATRIX + "[[include]]\n").encode(), "[[include]] #1 is empty"),
    ((MATRIX + "include = 3\n").encode(), "unknown key(s) in [matrix]: include"),
    (b"include = 3\n" + MATRIX.encode(), "include must be written as [[include]] tables"),
    ((MATRIX + "[[exclude]]\nmodel = 3\n").encode(),
     "[[exclude]] #1 model: expected a string or a list of strings, got 3"),
    ((MATRIX + "[[exclude]]\nmodel = []\n").encode(), "[[exclude]] #1 model is empty"),
    ((MATRIX + "[[exclude]]\nmodle = 'mlp'\n").encode(),
     "[[exclude]] #1: unknown cell field 'modle'"),
    ((MATRIX + "[[exclude]]\nmodel = 'ml[xy]'\n").encode(),
     "[[exclude]] #1 model: unknown model 'ml[xy]' (matches none)"),
])
def test_bad_matrix_files(tmp_path, capsys, content, msg):
    m = tmp_path / "m.toml"
    m.write_bytes(content)
    err = one_line_error(capsys, ["run", "--matrix", str(m), "--results-dir",
                                  str(tmp_path / "r")])
    assert f"{m}: " in err or f"{m} " in err
    assert msg in err
    assert not (tmp_path / "r").exists()


def test_matrix_that_is_a_folder(tmp_path, capsys):
    err = one_line_error(capsys, ["run", "--matrix", str(tmp_path), "--results-dir",
                                  str(tmp_path / "r")])
    assert f"matrix spec {tmp_path} is a folder, not a TOML file" in err


@pytest.mark.parametrize("argv, msg", [
    (["--from", "2.12", "--to", "2.99"], "--to 2.99: not a TensorFlow release this harness knows"),
    (["--from", "1.15", "--to", "2.16"], "--from 1.15: not a TensorFlow release"),
    (["--from", "2.12", "--to", "latest"], "bad TF version spec 'latest'"),
    (["--from", "2.12", "--to", "2.16", "{run}"], "not a run folder (no run.json)"),
])
def test_advise_refuses_versions_and_runs_that_cannot_exist(tmp_path, capsys, argv, msg):
    argv = [a.format(run=tmp_path / "norun") for a in argv]
    err = one_line_error(capsys, ["advise", *argv, "--results-dir", str(tmp_path)])
    assert msg in err
    assert "harness run" not in err  # no command suggested that cannot work


def test_report_out_that_is_a_file(tmp_path, capsys):
    from support.runs import make_run

    run = make_run(tmp_path)
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    err = one_line_error(capsys, ["report", str(run), "--out", str(target), "--formats", "md"])
    assert f"--out {target} is a file: give a folder for the reports" in err
    assert target.read_text() == "mine"


def test_inspect_negative_variables(tmp_path, capsys):
    f = tmp_path / "m.h5"
    f.write_bytes(b"\x89HDF\r\n\x1a\n")
    err = one_line_error(capsys, ["inspect", str(f), "--variables", "-1"])
    assert "--variables -1: give how many to list, 0 or more" in err


def test_advise_on_an_incomplete_run_says_so(tmp_path, capsys):
    from support.runs import make_run, sample_rows

    rows = sample_rows()
    run = make_run(tmp_path, rows=rows)
    lines = (run / "cells.jsonl").read_text().splitlines()
    (run / "cells.jsonl").write_text("\n".join(lines[:-3]) + "\n")
    assert cli_main(["advise", "--from", "2.12", "--to", "2.16", str(run)]) == 0
    out = capsys.readouterr().out
    assert "note: 3 of " in out and "planned cells missing" in out


@pytest.mark.parametrize("why", [(), ("SIGTERM",)])
def test_an_interrupt_in_any_command_is_one_line_and_exit_130(monkeypatch, capsys, why):
    """Ctrl-C (or SIGTERM/SIGHUP, which try, fixtures and inspect turn into KeyboardInterrupt
    after killing their workers) ends every command with one line, never a traceback."""
    import harness.commands.show as show

    def interrupted(args):
        raise KeyboardInterrupt(*why)

    monkeypatch.setattr(show, "main", interrupted)
    assert cli_main(["show", "anything"]) == 130
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err + captured.out
    assert captured.err.startswith("harness: interrupted" + (" by SIGTERM" if why else ""))


@pytest.mark.parametrize("argv", [
    ["try", "model.h5", "--load", "2.16", "--cell-timeout", "nan"],
    ["fixtures", "verify", "--load", "2.16", "--cell-timeout", "-5"],
    ["migrate", "model.h5", "--to", "2.16", "--cell-timeout", "0"],
])
def test_cell_timeout_is_checked_by_every_command_that_takes_it(capsys, argv):
    err = one_line_error(capsys, argv)
    assert "--cell-timeout must be a number of seconds > 0, not " in err


@pytest.mark.parametrize("flag", ["--inputs", "--expected", "--custom-objects"])
def test_try_refuses_a_missing_option_file_even_with_a_cached_copy(tmp_path, capsys, flag):
    """A missing --inputs used to fall back to the cached fixture made without it."""
    art = tmp_path / "m.h5"
    art.write_bytes(b"\x89HDF\r\n\x1a\n")
    err = one_line_error(capsys, ["try", str(art), "--load", "2.16", flag,
                                  str(tmp_path / "missing.npz"), "--cache-dir",
                                  str(tmp_path / "c")])
    assert f"{flag} {tmp_path / 'missing.npz'}: no such file" in err


@pytest.mark.parametrize(("break_it", "message"), [
    (lambda sm: (sm / "saved_model.pb").unlink(),
     "a SavedModel folder (variables, fingerprint.pb) without saved_model.pb"),
    (lambda sm: (sm / "variables" / "variables.data-00000-of-00001").write_bytes(b""),
     "variables.data-00000-of-00001: empty file (0 bytes)"),
    (lambda sm: (sm / "variables" / "variables.data-00000-of-00001").unlink(),
     "variables.index without its variables.data-* shard(s)"),
])
def test_a_savedmodel_cut_short_is_named_before_any_worker(tmp_path, capsys, break_it, message):
    """Without saved_model.pb, fingerprint.pb was read as ONNX (exit 0); a 0-byte variables
    file got a parameter count: now each is one line naming what is missing."""
    sm = tmp_path / "exported"
    (sm / "variables").mkdir(parents=True)
    (sm / "saved_model.pb").write_bytes(b"\x08\x01")
    (sm / "fingerprint.pb").write_bytes(b"\x08\x01\x10\x02")
    (sm / "variables" / "variables.index").write_bytes(b"index")
    (sm / "variables" / "variables.data-00000-of-00001").write_bytes(b"data")
    break_it(sm)
    err = one_line_error(capsys, ["inspect", str(sm), "--cache-dir", str(tmp_path / "c")])
    assert message in err
