"""The report writers on hand-made run folders (no TF): Markdown, HTML, CSV, PNG, the aggregation
they share, and `harness report` on bad input."""

from __future__ import annotations

import csv
import json
import re

import pytest
from support.runs import make_run, row, sample_rows

from harness.cli import main
from harness.reports import markdown, write_reports
from harness.reports.html import cells_of
from harness.results.view import Group, RunView, error_summary, mark


def one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("harness: error:")
    return err.strip()


def table_after(md: str, heading: str) -> list[list[str]]:
    """The rows of the first table after a heading, as lists of cell texts."""
    lines = md.split(f"## {heading}\n", 1)[1].splitlines()
    rows = [ln for ln in lines[1:] if ln.startswith("|")]
    out = []
    for ln in rows:
        if ln.startswith("| ---") or ln.startswith("|---") or set(ln) <= set("|- "):
            continue
        out.append([c.strip() for c in ln.strip("|").split(" | ")])
        if not lines[lines.index(ln) + 1].startswith("|"):
            break
    return out


# --- shared shaping ----------------------------------------------------------------------------

def test_marks_count_pass_among_applicable_cells():
    cells = [{"status": "pass"}, {"status": "load-error"}, {"status": "unsupported"}]
    g = Group(cells)
    assert (g.passed, g.total) == (1, 2)
    assert mark(g) == "⚠️ 1/2"
    assert mark(Group([{"status": "pass"}, {"status": "unsupported"}])) == "✅ 1/1"
    assert mark(Group([{"status": "mismatch"}])) == "❌ 0/1"
    assert mark(Group([{"status": "unsupported"}])) == "n/a"


def test_error_summary_is_the_same_for_every_model():
    a = row("2.12", "2.16", "mlp", "keras", "keras.models.load_model", "load-error",
            error_type="ValueError", error="File not found: filepath=/tmp/r/artifacts/2.12-cpu-a/"
                                           "mlp/keras/model.keras. Please ensure")
    b = dict(a, model="cnn", error=a["error"].replace("/mlp/", "/cnn/"))
    assert error_summary(a) == error_summary(b) == (
        "load-error ValueError: File not found: filepath=.../model.keras. Please ensure")
    long_config = "Error using config={" + ", ".join(f"'k{i}': {i}" for i in range(30)) + "}."
    c = dict(a, error=long_config + "\n\nException encountered: Unrecognized keyword")
    assert error_summary(c) == ("load-error ValueError: Error using config={...}. ... "
                                "Exception encountered: Unrecognized keyword")
    nested = dict(a, error="cannot be imported. Full object config: {'module': 'keras', "
                           "'config': {'name': 'mlp', 'layers': [{'config': {'shape': [4]}}]}}")
    assert error_summary(nested) == ("load-error ValueError: cannot be imported. Full object "
                                     "config: {...}")
    cut = dict(a, error="Full object config: {'module': 'keras.src.models', 'config': "
                        "{'name': 'mlp', 'layers': [{'module'")  # the library cut it off
    assert error_summary(cut) == "load-error ValueError: Full object config: {..."
    short = dict(a, error="Unrecognized keyword arguments passed to LSTM: {'time_major': False}")
    assert error_summary(short).endswith("{'time_major': False}")
    assert error_summary(row("2.12", "2.12", "mlp", "h5", "x", "pass")) is None


def test_environments_date_and_command_come_from_run_json(tmp_path):
    view = RunView(make_run(tmp_path, info={"command": ["harness", "run", "--save", "2.12"],
                                            "started": "2026-11-22T03:00:00Z"}))
    assert view.command == "harness run --save 2.12"
    assert view.date == "2026-11-22T03:00:00Z"
    envs = {e["label"]: e for e in view.environments()}
    assert envs["2.16"]["keras"] == "3.15.1" and envs["2.12"]["tf"] == "2.12.1"
    rebuilt = RunView(make_run(tmp_path, "plain"))
    assert rebuilt.command.startswith("harness run --save 2.12,2.16 --load 2.12,2.16")
    assert "rebuilt from run.json" in rebuilt.command
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", rebuilt.date)


def test_an_absolute_results_dir_is_not_published(tmp_path):
    """A report is published: the command that made the run names no folder of this machine."""
    view = RunView(make_run(tmp_path, "abs", info={"command": [
        "harness", "run", "--results-dir", str(tmp_path), "--run-id", "abs",
        "--resume", str(tmp_path / "abs")]}))
    assert view.command == "harness run --results-dir <results> --run-id abs --resume <run>"
    assert str(tmp_path) not in markdown.render(view)


# --- Markdown ------------------------------------------------------------------------------------

def test_markdown_has_one_save_by_load_table_per_format(tmp_path):
    md = markdown.render(RunView(make_run(tmp_path)))
    for fmt in ("savedmodel", "h5", "tf-checkpoint"):
        assert f"## {fmt}\n" in md
    h5 = table_after(md, "h5")
    assert h5[0] == ["saved with \\ loaded with", "2.12", "2.16"]
    rows = {r[0]: r[1:] for r in h5[1:]}
    # 2.12->2.12 both models pass; 2.12->2.16 cnn fails; 2.16->2.12 both fail
    assert rows["2.12"][0] == "✅ 2/2"
    assert rows["2.12"][1].startswith("⚠️ 1/2 [")
    assert rows["2.16"][0].startswith("❌ 0/2 [")
    assert rows["2.16"][1] == "✅ 2/2"
    ckpt = {r[0]: r[1:] for r in table_after(md, "tf-checkpoint")[1:]}
    assert ckpt["2.12"][1].startswith("⚠️ 2/4 [")  # restore mismatches, load_checkpoint passes


def test_markdown_footnotes_point_to_the_errors(tmp_path):
    md = markdown.render(RunView(make_run(tmp_path)))
    h5 = {r[0]: r[1:] for r in table_after(md, "h5")[1:]}
    n = int(re.search(r"\[(\d+)\]", h5["2.16"][0]).group(1))
    errors = md.split("## Errors\n", 1)[1]
    line = next(ln for ln in errors.splitlines() if ln.startswith(f"{n}. "))
    assert "TypeError: Unrecognized keyword arguments: ['batch_shape', 'optional']" in line
    assert line.endswith("(cnn, mlp)")
    # the same error for two models is one footnote, with the artifact path elided
    sm = [ln for ln in errors.splitlines() if "File format not supported" in ln]
    assert len(sm) == 1 and "filepath=.../savedmodel." in sm[0] and "/tmp/r" not in sm[0]


def test_markdown_header_names_date_versions_and_command(tmp_path):
    md = markdown.render(RunView(make_run(tmp_path, info={"command": "harness run -x"})))
    assert "- **Command:** `harness run -x`" in md
    assert "- **Date:** " in md
    env = {r[0]: r for r in table_after(md, "Environments")[1:]}
    assert env["2.16"][1:3] == ["2.16.2", "3.15.1"] and env["2.12"][1:3] == ["2.12.1", "2.12.0"]


def test_devices_other_than_cpu_show_in_the_environment_names(tmp_path):
    rows = sample_rows()
    rows.append(row("2.16", "2.16", "mlp", "h5", "keras.models.load_model", "pass",
                    load_device="cpu-noonednn"))
    md = markdown.render(RunView(make_run(tmp_path, rows=rows)))
    assert "| saved with \\ loaded with | 2.12 | 2.16 | 2.16@cpu-noonednn |" in md
    assert "cpu-noonednn" not in markdown.render(RunView(make_run(tmp_path, "plain")))


# --- HTML ---------------------------------------------------------------------------------------

def test_html_is_one_self_contained_page_with_every_cell(tmp_path):
    out = tmp_path / "out"
    write_reports(make_run(tmp_path), out, ["html"])
    page = (out / "report.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # nothing fetched
    assert "http://" not in page.replace("http://www.w3.org", "")
    # an error message holding "</script>" must not end the data element early
    assert page.count("</script>") == 2
    data = json.loads(re.search(r'<script type="application/json" id="run-data">(.*?)</script>',
                                page, re.S).group(1))
    cells = cells_of(data)
    assert len(cells) == len(sample_rows())
    assert data["formats"] == ["savedmodel", "h5", "tf-checkpoint"]
    assert data["save"] == data["load"] == ["2.12", "2.16"]
    assert any("</script>" in (c["error"] or "") for c in cells)
    assert len(data["versions"]) == 2  # each environment's versions once
    assert {c["load_versions"]["keras"] for c in cells} == {"2.12.0", "3.15.1"}


# --- CSV and PNG ----------------------------------------------------------------------------------

def test_csv_has_one_row_per_cell_and_a_summary(tmp_path):
    out = tmp_path / "out"
    write_reports(make_run(tmp_path), out, ["csv"])
    with open(out / "cells.csv", newline="") as f:
        cells = list(csv.DictReader(f))
    assert len(cells) == len(sample_rows())
    first = cells[0]
    assert first["save_tf_version"] == "2.12.1" and first["load_keras_version"] == "2.12.0"
    with open(out / "summary.csv", newline="") as f:
        summary = {(r["format"], r["save_tf"], r["load_tf"]): r for r in csv.DictReader(f)}
    h5 = summary[("h5", "2.12", "2.16")]
    assert (h5["passed"], h5["applicable"], h5["load-error"]) == ("1", "2", "1")
    sm = summary[("savedmodel", "2.12", "2.12")]
    assert (sm["passed"], sm["applicable"], sm["unsupported"]) == ("2", "4", "2")


def test_png_heatmap(tmp_path):
    pytest.importorskip("matplotlib", reason="the PNG heatmap needs matplotlib")
    import matplotlib.image

    out = tmp_path / "out"
    (path,) = write_reports(make_run(tmp_path), out, ["png"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 300
    # the RdYlGn colormap's dark green for a square where everything passes is drawn
    green = (pixels[..., 1] > 0.35) & (pixels[..., 0] < 0.1) & (pixels[..., 2] < 0.3)
    assert green.sum() > 500


# --- the command ---------------------------------------------------------------------------------

def test_report_command_writes_every_format(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the default formats include the PNG heatmap")
    run = make_run(tmp_path)
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out.split()
    names = sorted(p.rsplit("/", 1)[1] for p in out)
    assert names == ["cells.csv", "heatmap.png", "report.html", "report.md", "summary.csv"]
    assert all((run / "report" / n).is_file() for n in names)


def test_report_on_bad_input_fails_in_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "is not a run folder" in one_error_line(capsys)
    run = make_run(tmp_path, rows=[])
    assert main(["report", str(run)]) == 2
    assert "has no cells" in one_error_line(capsys)
    assert main(["report", str(make_run(tmp_path, "r2")), "--formats", "md,pdf"]) == 2
    assert "unknown report format pdf" in one_error_line(capsys)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    assert main(["report", str(bad)]) == 2
    assert "not valid JSON" in one_error_line(capsys)


def test_many_versions_get_one_matrix_per_loader(tmp_path):
    versions = ["2.12", "2.13", "2.14", "2.15", "2.16"]
    rows = [row(s, ld, "mlp", "h5", loader, "pass" if s <= ld else "load-error",
                error=None if s <= ld else "too new")
            for s in versions for ld in versions
            for loader in ("keras.models.load_model[compile=False]", "keras.models.load_model")]
    md = markdown.render(RunView(make_run(tmp_path, rows=rows)))
    assert "By loader:" not in md  # 25 directions: no 25-column table
    block = md.split("<details><summary>By loader</summary>", 1)[1].split("</details>", 1)[0]
    # the vocabulary's order: the default call before its workaround
    assert block.index("`keras.models.load_model`:") < block.index(
        "`keras.models.load_model[compile=False]`:")
    first = block.split("`keras.models.load_model`:", 1)[1]
    assert "| saved \\ loaded | 2.12 | 2.13 | 2.14 | 2.15 | 2.16 |" in first
    assert "| 2.16 | ❌ 0/1 [1] | ❌ 0/1 [1] | ❌ 0/1 [1] | ❌ 0/1 [1] | ✅ 1/1 |" in first
