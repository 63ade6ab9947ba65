"""harness.cli in-process: bad input fails in one stderr line, before any environment is built."""

from __future__ import annotations

from pathlib import Path

from harness.cli import main


def run_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["run", *extra, "--cache-dir", str(tmp_path / "cache"),
            "--results-dir", str(tmp_path / "results"), "-j", "1"]


def one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("harness: error:")
    return lines[0]


def nothing_built(tmp_path: Path) -> bool:
    return not (tmp_path / "cache" / "envs").exists() and not (tmp_path / "results").exists()


def test_unknown_tf_release(tmp_path, capsys):
    assert main(run_args(tmp_path, "--save", "2.99", "--load", "2.16")) == 2
    assert "2.99" in one_error_line(capsys)
    assert nothing_built(tmp_path)


def test_unparseable_spec(tmp_path, capsys):
    assert main(run_args(tmp_path, "--save", "2.16", "--load", "2.16+jax")) == 2
    assert "'2.16+jax'" in one_error_line(capsys)
    assert nothing_built(tmp_path)


def test_unknown_model(tmp_path, capsys):
    assert main(run_args(tmp_path, "--save", "2.16", "--load", "2.16", "--models", "resnet")) == 2
    assert "unknown model resnet" in one_error_line(capsys)
    assert nothing_built(tmp_path)


def test_show_on_a_non_run_folder(tmp_path, capsys):
    assert main(["show", str(tmp_path)]) == 2
    assert "is not a run folder" in one_error_line(capsys)


def test_envs_list_on_an_empty_cache(tmp_path, capsys):
    assert main(["envs", "list", "--cache-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"no environments in {tmp_path}" and err == ""
