"""harness.findings.advise and `harness advise` on hand-made runs (no TF): every line comes from
cells."""

from __future__ import annotations

import os
import time

from support.runs import make_run, row, sample_rows

from harness.cli import main
from harness.findings.advise import Advisor, render, resolve_label, verdict
from harness.results.view import RunView


def advice_lines(text: str, fmt: str) -> list[str]:
    block = text.split(f"\n{fmt}\n", 1)[1].split("\n\n", 1)[0]
    return block.splitlines()


def test_savedmodel_advice_names_the_loaders_that_work(tmp_path):
    text = render(Advisor(RunView(make_run(tmp_path)), "2.12", "2.16"))
    assert text.startswith("Upgrading TF 2.12 (tf 2.12.1, keras 2.12.0) -> "
                           "TF 2.16 (tf 2.16.2, keras 3.15.1)\n")
    lines = advice_lines(text, "savedmodel")
    assert lines[0].startswith("  ok      tf.saved_model.load: loads 2.12 artifacts under 2.16")
    i = next(i for i, ln in enumerate(lines) if "keras.models.load_model:" in ln)
    # it fails under 2.12 -> 2.12 too: not the upgrade's, and no fix is offered for it
    assert lines[i] == ("  already keras.models.load_model: already fails under 2.12 -> 2.12 "
                        "(not the upgrade): raises for mlp, cnn (2 of 2)")
    assert not any("fix:" in ln for ln in lines[i + 1:i + 3])
    assert any(ln.startswith("  NEW     keras.layers.TFSMLayer") for ln in lines)


def test_a_loader_that_worked_before_breaks_and_silent_mismatch_is_called_out(tmp_path):
    text = render(Advisor(RunView(make_run(tmp_path)), "2.12", "2.16"), width=200)
    h5 = advice_lines(text, "h5")
    assert h5[0] == ("  BREAKS  keras.models.load_model: breaks under 2.16: raises for cnn "
                     "(1 of 2)")
    ckpt = advice_lines(text, "tf-checkpoint")
    # silently wrong: loads without an error, and the size of the difference is said
    assert ckpt[0] == ("  BREAKS  tf.train.Checkpoint.restore: breaks under 2.16: silently "
                       "wrong for mlp, cnn (2 of 2: largest, mlp: outputs move by 4.1e+00 "
                       "against tolerance 1e-06; parameters 0/4 bit-identical)")
    fixes = [ln.strip() for ln in ckpt[1:] if "fix:" in ln]
    # a way to get a model back comes before a raw reader (which is not needed here)
    assert fixes == ["fix: re-save under 2.12 as savedmodel, load with "
                     "`tf.saved_model.load(path)` for mlp, cnn"]
    back = text.split("loaded under 2.12", 1)[1]
    assert "h5: works: none; fails: `keras.models.load_model` 0/2" in back


def test_advice_fits_the_width_and_says_what_variants_share_once(tmp_path):
    from support.runs import full_pair_rows

    run = make_run(tmp_path, rows=full_pair_rows())
    text = render(Advisor(RunView(run), "2.12", "2.16"), width=80)
    assert max(len(ln) for ln in text.splitlines()) <= 80
    # the six keras.models.load_model loaders of .keras fail alike: one entry, one error
    keras = advice_lines(text, "keras")
    assert keras[0].startswith("  FAILS   keras.models.load_model, [compile=False], "
                               "[custom_objects],")
    assert sum("File not found" in ln for ln in keras) == 1
    assert not any(ln.lstrip().startswith("keras.models.load_model[") for ln in keras)
    # the h5 workaround that passes keeps an entry of its own
    h5 = advice_lines(text, "h5")
    assert any(ln.startswith("  ok      keras.models.load_model[compile=False]") for ln in h5)
    # --models/--formats/--loaders: only those cells; an unknown name is a one-line error
    out = render(Advisor(RunView(run, select={"models": ["mlp"], "formats": ["h5"]}),
                         "2.12", "2.16"), width=80)
    assert "models: mlp)" in out and "\nkeras\n" not in out and "\nh5\n" in out


def test_another_format_is_suggested_when_no_loader_of_the_same_one_works(tmp_path):
    rows = [r for r in sample_rows() if r["format"] != "h5"]
    for s, ld in (("2.12", "2.12"), ("2.12", "2.16")):
        ok = s == ld
        rows.append(row(s, ld, "mlp", "keras", "keras.models.load_model",
                        "pass" if ok else "load-error", error_type=None if ok else "ValueError",
                        error=None if ok else "File not found"))
    text = render(Advisor(RunView(make_run(tmp_path, rows=rows)), "2.12", "2.16"))
    lines = advice_lines(text, "keras")
    assert lines[0].startswith("  BREAKS  keras.models.load_model")
    assert "fix: re-save under 2.12 as savedmodel, load with `tf.saved_model.load(path)` for " \
           "mlp" in text


def test_versions_resolve_by_label_or_resolved_release():
    labels = {"2.12", "2.16", "2.16+tf_keras"}
    resolved = {"2.12": "2.12.1", "2.16": "2.16.2", "2.16+tf_keras": "2.16.2"}
    assert resolve_label("2.16", labels, resolved) == "2.16"
    assert resolve_label("2.16.2", labels, resolved) == "2.16"  # the plain one, not the variant
    assert resolve_label("2.16+tf_keras", labels, resolved) == "2.16+tf_keras"
    assert resolve_label("2.12.1", labels, resolved) == "2.12"
    assert resolve_label("2.13", labels, resolved) is None


def test_advise_command_finds_the_newest_run_with_both_versions(tmp_path, capsys):
    older = make_run(tmp_path / "results", "older")
    newer = make_run(tmp_path / "results", "newer")
    only_212 = make_run(tmp_path / "results", "only-212",
                        rows=[r for r in sample_rows() if r["load_tf"] == "2.12"],
                        info={"matrix": {"save": ["2.12"], "load": ["2.12"]}})
    now = time.time()
    os.utime(older / "run.json", (now - 300, now - 300))
    os.utime(newer / "run.json", (now - 100, now - 100))
    os.utime(only_212 / "run.json", (now, now))
    assert main(["advise", "--from", "2.12", "--to", "2.16", "--results-dir",
                 str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert f"from run {newer} (" in out


def test_advise_on_bad_input_fails_in_one_line(tmp_path, capsys):
    run = make_run(tmp_path)
    assert main(["advise", "--from", "2.12", "--to", "2.19", str(run)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == ("harness: error: TF 2.19 was not a load version of run "
                                         "sample-run (versions: 2.12, 2.16)")
    assert main(["advise", "--from", "2.10", "--to", "2.16", str(run)]) == 2
    assert "TF 2.10 was not a save version" in capsys.readouterr().err
    assert main(["advise", "--from", "2.12", "--to", "2.16", "--results-dir",
                 str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "no run under" in err
    assert main(["advise", "--from", "2.12", "--to", "2.16", str(tmp_path / "nope")]) == 2


def test_save_errors_are_noted_not_blamed_on_the_upgrade(tmp_path):
    rows = sample_rows()
    for s, ld in (("2.12", "2.12"), ("2.12", "2.16")):
        rows.append(row(s, ld, "mlp", "onnx", "onnxruntime.InferenceSession", "save-error",
                        error_type="ImportError", error="no tf2onnx"))
        rows.append(row(s, ld, "mlp", "tflite", "tf.lite.Interpreter", "pass"))
        rows.append(row(s, ld, "rnn", "tflite", "tf.lite.Interpreter", "save-error",
                        error_type="ConverterError", error="LSTM not supported"))
    text = render(Advisor(RunView(make_run(tmp_path, rows=rows)), "2.12", "2.16"))
    assert advice_lines(text, "onnx") == [
        "  n/a     onnxruntime.InferenceSession: nothing to load: 2.12 could not save this format"]
    assert advice_lines(text, "tflite") == [
        "  ok      tf.lite.Interpreter: loads 2.12 artifacts under 2.16 (1/1 cells, max |diff| "
        "6.0e-08)",
        "          (rnn: 2.12 could not save this format)"]


def legacy_rows() -> list[dict]:
    """2.12 -> 2.16 and 2.12 -> 2.16+tf_keras: Keras 3 cannot read the Keras 2 h5 and
    .keras files, legacy Keras (tf_keras) can."""
    rows = []
    for load in ("2.12", "2.16", "2.16+tf_keras"):
        for model in ("mlp", "cnn"):
            ok = load != "2.16"
            for fmt in ("h5", "keras"):
                rows.append(row("2.12", load, model, fmt, "keras.models.load_model",
                                "pass" if ok else "load-error",
                                error_type=None if ok else "TypeError",
                                error=None if ok else "Could not deserialize class 'Functional'"))
            rows.append(row("2.12", load, model, "savedmodel", "tf.saved_model.load", "pass"))
    return rows


def test_legacy_keras_is_named_with_its_cells_when_they_pass_where_keras_3_fails(tmp_path):
    view = RunView(make_run(tmp_path, rows=legacy_rows()))
    text = render(Advisor(view, "2.12", "2.16"))
    assert "Legacy Keras: `pip install tf_keras~=2.16` and `TF_USE_LEGACY_KERAS=1` loads what " \
           "Keras 3 cannot" in text
    h5 = advice_lines(text, "h5")
    assert h5[0].startswith("  BREAKS  keras.models.load_model")
    assert h5[2].strip() == (
        "fix: `pip install tf_keras~=2.16` and `TF_USE_LEGACY_KERAS=1` (2.12 -> 2.16+tf_keras "
        "passes) for mlp, cnn")
    # the legacy route loads them all: no re-save is offered beside it
    assert not any("re-save" in ln for ln in h5)
    lines = verdict(Advisor(view, "2.12", "2.16"))
    assert lines[-1] == ("  fix for `keras.models.load_model` (keras, h5): `pip install "
                         "tf_keras~=2.16` and `TF_USE_LEGACY_KERAS=1` (2.12 -> 2.16+tf_keras "
                         "passes) for mlp, cnn")


def test_no_legacy_route_without_its_cells_and_only_where_it_passes(tmp_path):
    rows = [r for r in legacy_rows() if r["load_tf"] != "2.16+tf_keras"]
    text = render(Advisor(RunView(make_run(tmp_path, "none", rows=rows)), "2.12", "2.16"))
    assert "tf_keras" not in text
    rows = legacy_rows()
    for r in rows:
        if r["load_tf"] == "2.16+tf_keras" and r["format"] == "h5" and r["model"] == "cnn":
            r.update(status="load-error", error="boom")
    text = render(Advisor(RunView(make_run(tmp_path, "half", rows=rows)), "2.12", "2.16"))
    # where it passes for some models only, it is offered for those, and the others are named
    assert advice_lines(text, "h5")[2].strip() == (
        "fix: `pip install tf_keras~=2.16` and `TF_USE_LEGACY_KERAS=1` (2.12 -> 2.16+tf_keras "
        "passes) for mlp (not cnn)")
    assert "tf_keras" in "\n".join(advice_lines(text, "keras"))


def test_a_fixture_run_baselines_on_the_load_env_that_is_its_producer(tmp_path):
    """Fixtures carry their producer's TF as the save label ("2.12.1"); loaded under the env
    "2.12" (which resolves to TF 2.12.1) they are that version's own cells: the baseline."""
    rows = []
    for load in ("2.12", "2.16"):
        for model, h5 in (("old-h5", "load-error"), ("new-h5", "pass" if load == "2.12"
                                                      else "load-error")):
            rows.append(row("2.12.1", load, model, "h5", "keras.models.load_model", h5,
                            error_type=None if h5 == "pass" else "ValueError",
                            error=None if h5 == "pass" else "bad"))
    view = RunView(make_run(tmp_path, rows=rows))
    advisor = Advisor(view, "2.12.1", "2.16")
    assert advisor.base == "2.12" and advisor.baselined
    head = verdict(advisor)
    assert head[0].endswith("0 of 1 native loader(s) that give back a model keep working, 1 break")
    assert any(ln.startswith("  breaks: `keras.models.load_model` (h5: raises for new-h5 (1 of 2))")
               for ln in head), head
    assert any(ln.startswith("  already fails under 2.12.1 -> 2.12 (not the upgrade): "
                             "`keras.models.load_model` (h5: raises for old-h5") for ln in head)
    # a producer no load env resolves to: no baseline, and the verdict says so
    assert not Advisor(view, "2.12.1", "2.16")._baseline({"2.16"}, {"2.16": "2.16.2"})


def test_a_try_run_is_never_the_newest_run_advise_answers_from(tmp_path, capsys):
    """`harness try` writes under results/try/: advise (and its "newest run") never takes it,
    however new, unless it is named."""
    import os

    from harness.cli import main
    from harness.findings.advise import find_run

    results = tmp_path / "results"
    full = make_run(results, name="quickstart")
    tried = make_run(results / "try", name="20261204-try",
                     rows=[r for r in sample_rows() if r["model"] == "mlp"])
    os.utime(full / "run.json", (1, 1))  # the try run is the newer one
    assert find_run(results, "2.12", "2.16") == full
    assert main(["advise", "--from", "2.12", "--to", "2.16", "--results-dir", str(results)]) == 0
    assert f"from run {full} " in capsys.readouterr().out
    assert main(["advise", "--from", "2.12", "--to", "2.16", str(tried)]) == 0
    assert f"from run {tried} " in capsys.readouterr().out
