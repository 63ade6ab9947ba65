"""The terminal table (harness.reports.terminal): the verdict first, a table that fits a screen,
footnotes; what `harness show` says about missing cells; and no machine path in any report."""

from __future__ import annotations

import json
import re

from support.runs import full_pair_rows, make_run, row, sample_rows

from harness.cli import main
from harness.reports import write_reports
from harness.reports.terminal import terminal_table
from harness.vocab import FORMAT_LOADERS, FORMATS, MODELS


def test_one_pair_is_format_x_loader_by_model_and_fits_a_screen(tmp_path):
    rows = full_pair_rows()
    assert len(rows) == len(MODELS) * sum(len(FORMAT_LOADERS[f]) for f in FORMATS)
    text = terminal_table(make_run(tmp_path, rows=rows), width=150)
    lines = text.splitlines()
    assert len(lines) < 60, text
    assert max(map(len, lines)) <= 150
    assert lines[0].startswith("Upgrade TF 2.12 (tf 2.12.1, keras 2.12.0) -> TF 2.16 "
                               "(tf 2.16.2, keras 3.15.1): ")
    header = next(ln for ln in lines if ln.startswith("format "))
    # 13 models do not fit 150 columns in full: 3-letter labels, and a key that names each
    key = dict(re.findall(r"(\w+) = (\w+)", text.split("columns: ", 1)[1]))
    assert [key.get(h, h) for h in header.split()[2:]] == list(MODELS)
    body = lines[lines.index(header) + 1:]
    table = body[:next(i for i, ln in enumerate(body) if not ln.strip())]
    # a row per format x loader, but a [variant] that does what its plain loader does is
    # counted on that loader's row: the variant that differs (the workaround) keeps its row
    variants = [lo for lo in FORMAT_LOADERS["h5"] if lo.startswith("keras.models.load_model[")]
    h5 = next(i for i, ln in enumerate(table) if ln.startswith("h5 "))
    assert table[h5].split()[1:4] == ["keras.models.load_model", f"(+{len(variants) - 1}",
                                      "alike)"]
    assert table[h5].count("✗") == len(MODELS) and re.search(r"✗\s+\[\d+\]$", table[h5])
    assert table[h5 + 1].split()[0] == "keras.models.load_model[compile=False]"
    assert table[h5 + 1].count("✓") == len(MODELS)
    assert len(table) < sum(len(FORMAT_LOADERS[f]) for f in FORMATS)
    assert any("≠" in ln and "[" in ln for ln in table) and any(ln.split()[-1] == "✓"
                                                                for ln in table)
    # one footnote for the mismatches whose counts differ per model, naming each model's
    notes = [ln for ln in lines if re.match(r"\[\d+\] ", ln)]
    assert sum("bit-identical" in n for n in notes) == 1
    assert "(mlp 0/3, cnn 0/3, rnn 0/3, custom 0/6," in text
    assert f"{len(rows)} cells: " in text


def footnotes(text: str) -> dict[str, str]:
    """Footnote number -> its text, continuation lines joined."""
    out, current = {}, None
    for ln in text.splitlines():
        if m := re.match(r"\[(\d+)\] (.*)", ln):
            current = m.group(1)
            out[current] = m.group(2)
        elif current and ln.startswith("    "):
            out[current] += " " + ln.strip()
        else:
            current = None
    return out


def test_the_table_fits_80_and_120_columns_and_numbers_footnotes_alike(tmp_path):
    run = make_run(tmp_path, rows=full_pair_rows())
    texts = {w: terminal_table(run, width=w) for w in (80, 120, 160)}
    for w, text in texts.items():
        assert max(len(ln) for ln in text.splitlines()) <= w, (w, text)
    assert texts[80] != texts[120]  # a layout of its own at each width
    # the same errors under the same numbers at every width (and when piped: 160)
    assert footnotes(texts[80]) == footnotes(texts[120]) == footnotes(texts[160])
    assert len(footnotes(texts[80])) == 6
    for w in (80, 120):  # every mark of a failing row still points at its footnote
        assert re.search(r"keras\.models\.load_model \(\+3 alike\)\s+(✗\s+){12}✗\s+\[4\]",
                         texts[w])
    detail = {w: terminal_table(run, width=w, detail=True) for w in (80, 160)}
    assert max(len(ln) for ln in detail[80].splitlines()) <= 80
    assert footnotes(detail[80]) == footnotes(detail[160])


def test_a_footnote_is_the_whole_error_and_names_its_models(tmp_path):
    base = dict(error_type="AssertionError")
    rows = [row("2.12", "2.16", "mlp", "h5", "keras.models.load_model", "mismatch",
                error="predictions: output 0 beyond rtol=1e-06, atol=1e-06", **base),
            row("2.12", "2.16", "cnn", "h5", "keras.models.load_model", "mismatch",
                error="predictions: output 0 beyond rtol=0.001, atol=1e-06", **base),
            row("2.12", "2.16", "rnn", "h5", "keras.models.load_model", "load-error",
                error_type="ValueError", error="Layer at 0x7f3a2b1c4d50 failed: " + "x" * 150),
            row("2.12", "2.16", "custom", "h5", "keras.models.load_model", "load-error",
                error_type="ValueError", error="Layer at 0x7f00deadbeef failed: " + "x" * 150)]
    text = terminal_table(make_run(tmp_path, rows=rows), width=80)
    notes = footnotes(text)
    # numbers kept: two tolerances are two footnotes, each with its own model
    assert any("rtol=1e-06" in n and n.endswith("(mlp)") for n in notes.values()), notes
    assert any("rtol=0.001" in n and n.endswith("(cnn)") for n in notes.values()), notes
    # memory addresses removed: one error, one footnote, naming both models
    layer = [n for n in notes.values() if "Layer at" in n]
    assert len(layer) == 1 and layer[0].endswith("(rnn, custom)"), notes


def test_the_verdict_names_what_keeps_working_what_breaks_and_a_fix(tmp_path):
    text = terminal_table(make_run(tmp_path), width=150)
    verdict = text.split("\n\n", 1)[0].splitlines()
    verdict = [ln for ln in verdict if not ln.startswith("Environments:")]
    assert verdict[0].endswith("1 of 3 native loader(s) that give back a model keep working, "
                               "2 break")
    assert verdict[1] == "  keep working: `tf.saved_model.load`"
    # a break line each, naming its models, its kind and how many of the applicable cells
    assert verdict[2] == "  breaks: `keras.models.load_model` (h5: raises for cnn (1 of 2))"
    # too long for the width: a line per format and kind, never a kind cut off
    assert verdict[3:5] == ["  breaks: `tf.train.Checkpoint.restore`:",
                            "    tf-checkpoint: silently wrong for mlp, cnn (2 of 2: largest, "
                            "mlp: outputs move by 4.1e+00 against tolerance 1e-06; parameters 0/4 "
                            "bit-identical)"]
    # failing under 2.12 -> 2.12 too is not the upgrade's: its own line, not counted
    assert verdict[5] == ("  already fails under 2.12 -> 2.12 (not the upgrade): "
                          "`keras.models.load_model` (savedmodel: raises for mlp, cnn (2 of 2))")
    # a raw reader gives back no model: its own line, not in the count
    assert verdict[6] == "  still read the values (not a model): `tf.train.load_checkpoint` " \
                         "(tf-checkpoint)"
    assert verdict[7] == ("  fix for `keras.models.load_model` (h5): re-save under 2.12 as "
                          "savedmodel, load with `tf.saved_model.load(path)` for cnn")


def test_several_pairs_are_columns_with_a_mark_and_a_pass_count(tmp_path):
    text = terminal_table(make_run(tmp_path), width=150)
    lines = text.splitlines()
    header = next(ln for ln in lines if ln.startswith("format "))
    assert re.split(r"\s{2,}", header) == ["format", "loader", "2.12 -> 2.12", "2.12 -> 2.16",
                                           "2.16 -> 2.12", "2.16 -> 2.16"]
    h5 = next(ln for ln in lines if ln.startswith("h5 "))
    assert re.split(r"\s{2,}", h5)[2:] == ["✓ 2/2", "~ 1/2 [3]", "✗ 0/2 [3]", "✓ 2/2"]
    tfsm = next(ln for ln in lines if "TFSMLayer" in ln)
    assert re.split(r"\s{2,}", tfsm)[2:] == ["n/a", "✓ 2/2", "n/a", "✓ 2/2"]
    assert "each square: ✓ all, ~ some, ✗ none" in text


def test_detail_is_the_per_cell_table(tmp_path):
    text = terminal_table(make_run(tmp_path), detail=True, width=150)
    assert "Environments:" in text
    row_ = next(ln for ln in text.splitlines() if ln.startswith("cnn ") and " h5 " in ln)
    assert re.split(r"\s{2,}", row_)[3:] == ["pass 0", "load-error [3]", "load-error [3]",
                                             "pass 0"]


def test_show_says_how_many_planned_cells_are_missing(tmp_path, capsys):
    definition = {"name": "t", "save": ["2.12", "2.16"], "load": ["2.12", "2.16"],
                  "models": ["mlp", "cnn"], "formats": ["savedmodel", "h5", "tf-checkpoint"]}
    info = {"matrix": {"save": ["2.12", "2.16"], "load": ["2.12", "2.16"],
                       "definition": definition}}
    rows = sample_rows()
    run = make_run(tmp_path, rows=rows[:-4], info=info)
    from harness.results.store import read_run

    planned = read_run(run).planned
    assert planned is not None and len(planned) >= len(rows)
    missing = len(planned) - len(rows) + 4
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out
    first = " ".join(out.split("\n\n")[0].split())  # wrapped to the width: a long tmp path
    assert first.startswith(f"{missing} of {len(planned)} planned cells missing: the run "
                            f"did not finish; `harness run --resume {run}`")
    assert main(["report", str(run), "--formats", "md"]) == 0
    err = capsys.readouterr().err
    assert f"{missing} of {len(planned)} planned cells missing" in err
    md = (run / "report" / "report.md").read_text()
    assert f"`harness run --resume results/{run.name}`" in md


PATHS = re.compile(r"/root/|/home/|/tmp/|/Users/|/[^\s<>]*site-packages/")


def test_no_machine_path_in_any_report(tmp_path):
    site = "/root/.cache/tf-compat-harness/envs/2.16-cpu-1/lib/python3.11/site-packages"
    rows = sample_rows()
    rows[1] = rows[1] | {"error": f'Traceback: File "{site}/keras/src/saving/api.py", line 3\n'
                                  "ValueError: cannot read /home/alice/models/m.h5",
                         "notes": ["copied from /tmp/tmpab12/x", "/var/tmp/y"]}
    rows[2] = rows[2] | {"status": "load-error", "error_type": "OSError",
                         "error": "Unable to open /usr/lib/python3/dist-packages/h5py/x.py"}
    run = make_run(tmp_path, rows=rows,
                   info={"command": ["harness", "run", "--results-dir", "/root/work/results"]})
    out = tmp_path / "out"
    paths = write_reports(run, out, ["md", "html", "csv"])
    for path in paths:
        text = path.read_text()
        assert not PATHS.search(text), (path.name, PATHS.search(text))
    texts = {p.name: p.read_text() for p in paths}
    assert "<site-packages>/keras/src/saving/api.py" in texts["cells.csv"]
    assert "<home>/models/m.h5" in texts["cells.csv"]
    assert "<site-packages>/h5py/x.py" in texts["report.md"]
    data = json.loads(texts["report.html"].split('id="run-data">', 1)[1].split("</script>")[0])
    assert "<tmp>/tmpab12/x" in json.dumps(data)
    for detail in (False, True):
        assert not PATHS.search(terminal_table(run, detail=detail, width=400))


def test_the_compact_table_keeps_the_most_frequent_errors_and_points_to_detail(tmp_path):
    from harness.reports.terminal import MAX_NOTES

    rows = [row("2.12", "2.16", m, "h5", loader, "load-error", error_type="ValueError",
                error=f"distinct failure number {i}{'x' * i}")
            for i, (m, loader) in enumerate((m, ld) for m in MODELS
                                            for ld in FORMAT_LOADERS["h5"])]
    rows += [row("2.12", "2.16", m, "keras", FORMAT_LOADERS["keras"][0], "load-error",
                 error_type="OSError", error="the common one") for m in MODELS]
    out = terminal_table(make_run(tmp_path, rows=rows))
    notes = [ln for ln in out.splitlines() if re.match(r"\[\d+\] ", ln)]
    assert len(notes) == MAX_NOTES
    assert any("the common one" in ln for ln in notes)  # the most frequent error is kept
    assert "more (unnumbered marks) with --detail" in out
    detail = terminal_table(tmp_path / "sample-run", detail=True)
    assert len([ln for ln in detail.splitlines() if re.match(r"\[\d+\] ", ln)]) > MAX_NOTES


def test_show_filters_models_formats_and_loaders(tmp_path, capsys):
    run = make_run(tmp_path, rows=full_pair_rows())
    assert main(["show", str(run), "--width", "80", "--models", "mlp,cnn", "--formats",
                 "h5,tf-checkpoint", "--loaders", "keras.models.load_model"]) == 0
    out = capsys.readouterr().out
    assert max(len(ln) for ln in out.splitlines()) <= 80
    header = next(ln for ln in out.splitlines() if ln.startswith("format"))
    assert header.split()[-2:] == ["mlp", "cnn"]
    # a loader without [variant] brings its variants; other loaders and formats are gone
    assert "keras.models.load_model[compile=False]" in out
    assert "h5py.File" not in out and "tf-checkpoint" not in out.split(header, 1)[1]
    assert out.count(" cells: ") == 1 and "2 pass" in out  # 2 models x [compile=False]
    # a name the run does not have: one line naming what it has, exit 2
    assert main(["show", str(run), "--models", "mlp,resnet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--models: resnet not in this run; it has " in err
    assert "custom_fn" in err
