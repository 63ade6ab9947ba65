"""harness.verdict.decide and the words built on it, on hand-built rows (no TF): a break is a
regression
against the save version's own cells, kinds are ranked, every line names its models, its size
and a fix the cells prove."""

from __future__ import annotations

import ast

import pytest
from support.runs import make_run, row

from harness.findings.advise import Advisor, render, verdict
from harness.plan.matrix import from_flags
from harness.reports.terminal import terminal_table
from harness.results.view import Group, RunView, mark
from harness.verdict import decide as V
from harness.vocab import FORMAT_LOADERS

MODELS = ("mlp", "cnn", "rnn", "seq", "mixed")


def mismatch(save, load, model, fmt, loader, differs, **extra):
    text = {"parameters": "parameters: 0/4 bit-identical",
            "predictions": "predictions: output 0 beyond rtol=0.001, atol=0.001",
            "training": "resume: training cannot resume after loading (Unknown variable)"}
    return row(save, load, model, fmt, loader, "mismatch", differs=list(differs),
               error="; ".join(text[d] for d in differs), **extra)


def test_kinds_are_ranked_and_read_from_differs_or_from_older_rows():
    assert V.kind(row("2.12", "2.16", "mlp", "h5", "x", "pass")) == V.PASS
    assert V.kind(mismatch("2.12", "2.16", "mlp", "h5", "x", ["training"])) == V.TRAINING
    assert V.kind(mismatch("2.12", "2.16", "mlp", "h5", "x", ["predictions"])) == V.VALUES
    assert V.kind(mismatch("2.12", "2.16", "mlp", "h5", "x",
                           ["parameters", "training"])) == V.VALUES
    for status in ("load-error", "crash", "timeout"):
        assert V.kind(row("2.12", "2.16", "mlp", "h5", "x", status)) == V.ERROR
    for status in ("unsupported", "save-error"):
        assert V.kind(row("2.12", "2.16", "mlp", "h5", "x", status)) is None
    # a row written before `differs` existed: the judge's own problem prefixes say it
    old = row("2.12", "2.16", "mlp", "h5", "x", "mismatch",
              error="resume: the loaded model lost its optimizer state")
    assert V.differs(old) == ["training"] and V.kind(old) == V.TRAINING
    assert V.RANK[V.ERROR] > V.RANK[V.VALUES] > V.RANK[V.TRAINING] > V.RANK[V.PASS]


def test_a_break_is_a_regression_and_failing_under_both_is_not():
    p = row("2.16", "2.16", "mlp", "keras", "x", "pass")
    err = row("2.16", "2.16", "mlp", "keras", "x", "load-error")
    train = mismatch("2.16", "2.16", "mlp", "keras", "x", ["training"])
    vals = mismatch("2.16", "2.16", "mlp", "keras", "x", ["predictions"])
    assert V.outcome("mlp", p, err, True).change == V.BREAKS
    assert V.outcome("mlp", err, err, True).change == V.ALREADY
    assert V.outcome("mlp", train, train, True).change == V.ALREADY
    assert V.outcome("mlp", err, p, True).change == V.FIXED
    assert V.outcome("mlp", train, err, True).change == V.BREAKS  # worse in kind
    assert V.outcome("mlp", err, vals, True).change == V.ALREADY  # better is not a break
    assert V.outcome("mlp", None, err, True).change == V.NEW_FAILS  # no such loader under X
    assert V.outcome("mlp", None, err, False).change == V.UNBASELINED
    assert V.outcome("mlp", p, row("2.16", "2.17", "mlp", "keras", "x", "save-error"),
                     True).change == V.NA


def same_failures_both_sides() -> list[dict]:
    """2.16 -> 2.16 and 2.16 -> 2.17 alike, as the real nightly has them: mixed loses its
    LossScaleOptimizer state, custom_fn's unregistered layer raises, in both."""
    rows = []
    for load in ("2.16", "2.17"):
        rows.append(row("2.16", load, "mlp", "keras", "keras.models.load_model", "pass"))
        rows.append(mismatch("2.16", load, "mixed", "keras", "keras.models.load_model",
                             ["training"]))
        rows.append(row("2.16", load, "custom_fn", "keras", "keras.models.load_model",
                        "load-error", error_type="TypeError", error="Could not locate class"))
        rows.append(row("2.16", load, "mlp", "tf-checkpoint", "tf.train.Checkpoint.restore",
                        "pass"))
    return rows


def test_failures_the_diagonal_shares_are_no_break(tmp_path):
    view = RunView(make_run(tmp_path, rows=same_failures_both_sides(),
                            info={"matrix": {"save": ["2.16"], "load": ["2.16", "2.17"]}}))
    lines = verdict(Advisor(view, "2.16", "2.17"), width=400)
    assert lines[0].endswith("2 of 2 native loader(s) that give back a model keep working, "
                             "0 break")
    assert not any(ln.startswith("  breaks:") for ln in lines)
    already = next(ln for ln in lines if "already fails" in ln)
    assert already == ("  already fails under 2.16 -> 2.16 (not the upgrade): "
                       "`keras.models.load_model` (keras: raises for custom_fn (1 of 3), "
                       "predicts the same, cannot resume training for mixed (1 of 3))")
    assert not any(ln.startswith("  fix for") for ln in lines)  # none for what already fails


def test_without_the_baseline_nothing_is_called_a_break(tmp_path):
    rows = [r for r in same_failures_both_sides() if r["load_tf"] == "2.17"]
    view = RunView(make_run(tmp_path, rows=rows,
                            info={"matrix": {"save": ["2.16"], "load": ["2.17"]}}))
    lines = verdict(Advisor(view, "2.16", "2.17"))
    assert "no 2.16 -> 2.16 cells in this run" in lines[1]
    assert not any("break" in ln for ln in lines[2:])
    assert "no 2.16 -> 2.16 cells" in render(Advisor(view, "2.16", "2.17"))


def h5_rows() -> list[dict]:
    """2.12 -> 2.16 h5 as the nightly has it: the default call raises for models compiled with a
    loss object and cannot resume training for the tutorial Sequential; compile=False loads
    most; a raw reader reads the values of all."""
    rows = []
    for load in ("2.12", "2.16"):
        for m in MODELS:
            ok = load == "2.12"
            if ok:
                rows.append(row("2.12", load, m, "h5", "keras.models.load_model", "pass"))
            elif m == "seq":
                rows.append(mismatch("2.12", load, m, "h5", "keras.models.load_model",
                                     ["training"]))
            elif m == "mixed":
                rows.append(mismatch("2.12", load, m, "h5", "keras.models.load_model",
                                     ["predictions"], max_abs_diff=1.2e-3, rtol=1e-3, atol=1e-3,
                                     params_equal=4, notes={"output_dtype": "float16"}))
            else:
                rows.append(row("2.12", load, m, "h5", "keras.models.load_model", "load-error",
                                error_type="TypeError", error="reduction=auto"))
            cf = ok or m in ("mlp", "cnn", "seq")
            rows.append(row("2.12", load, m, "h5", "keras.models.load_model[compile=False]",
                            "pass" if cf else "load-error", error=None if cf else "time_major"))
            rows.append(row("2.12", load, m, "h5", "h5py.File", "pass"))
    return rows


def test_each_break_says_its_models_kinds_and_size_and_counts_add_up(tmp_path):
    view = RunView(make_run(tmp_path, rows=h5_rows(),
                            info={"matrix": {"save": ["2.12"], "load": ["2.12", "2.16"]}}))
    lines = verdict(Advisor(view, "2.12", "2.16"), width=400)
    assert lines[0].endswith("0 of 1 native loader(s) that give back a model keep working, "
                             "1 break")
    breaks = [ln for ln in lines if ln.startswith("  breaks:")]
    # mixed's outputs move 1.2x their tolerance, weights the same: a small difference, said
    # with its size (verdict.near), never "silently wrong"; it still counts as the break it is
    assert breaks == ["  breaks: `keras.models.load_model` (h5: raises for mlp, cnn, rnn "
                      "(3 of 5), loads, outputs move slightly for mixed (1 of 5: float16 outputs "
                      "move by 1.2e-03 against tolerance 1e-03; weights bit-identical), predicts "
                      "the same, cannot resume training for seq (1 of 5))"]
    # the raw reader is its own line, never counted among the loaders that give back a model
    assert "  still read the values (not a model): `h5py.File` (h5)" in lines
    fix = next(ln for ln in lines if ln.startswith("  fix for"))
    # the fix is proven per model: compile=False passes for mlp, cnn and seq, not for rnn or
    # mixed; for seq (training only) it says what it does not give back
    assert fix.startswith("  fix for `keras.models.load_model` (h5): "
                          "`keras.models.load_model(path, compile=False)` for mlp, cnn, seq "
                          "(not rnn, mixed); seq: compile anew to train on (the optimizer state "
                          "is not kept; predictions unaffected)")
    text = render(Advisor(view, "2.12", "2.16"))
    assert "outputs move slightly for mixed" in text and "raises for mlp, cnn, rnn" in text
    # the words are true: the models that raise are never called silently wrong
    for line in text.splitlines():
        if "silently wrong for" in line:
            assert "mlp" not in line.split("silently wrong for", 1)[1].split(")")[0]


def test_a_training_only_cell_has_its_own_mark_and_is_no_load_failure(tmp_path):
    cells = [row("2.12", "2.16", "seq", "h5", "x", "pass"),
             mismatch("2.12", "2.16", "mlp", "h5", "x", ["training"])]
    assert mark(Group(cells)) == "✅ 2/2 T1"
    cells.append(mismatch("2.12", "2.16", "cnn", "h5", "x", ["predictions"]))
    assert mark(Group(cells)) == "⚠️ 2/3 T1"
    rows = [r for r in h5_rows() if r["load_tf"] == "2.16"]
    text = terminal_table(make_run(tmp_path, rows=rows), width=200)
    line = next(ln for ln in text.splitlines() if ln.startswith("h5 "))
    # mlp cnn rnn seq mixed: raises, raises, raises, training only, predictions differ
    assert line.split()[2:] == ["✗", "[1]", "✗", "[1]", "✗", "[1]", "T", "[2]", "≠", "[3]"]
    assert "T loads and predicts the same; training cannot resume" in text


def test_a_fix_is_written_as_the_python_a_user_pastes():
    assert V.python_call("keras.models.load_model[compile=False]") == \
        "keras.models.load_model(path, compile=False)"
    assert V.python_call("keras.layers.TFSMLayer[call_endpoint=serving_default]") == \
        'keras.layers.TFSMLayer(path, call_endpoint="serving_default")'
    assert V.python_call("tf.saved_model.load") == "tf.saved_model.load(path)"
    assert V.python_call("tf.lite.Interpreter") == "tf.lite.Interpreter(model_path=path)"


# What a pasted call may name besides the modules: the user's own objects.
PLACEHOLDERS = {"path", "model", "x", "sess", "var_list", "MyLayer"}
MODULES = {"tf", "keras", "h5py", "onnxruntime", "ai_edge_litert", "open"}


@pytest.mark.parametrize("loader", sorted({lo for los in FORMAT_LOADERS.values() for lo in los}))
def test_every_loaders_call_is_python_that_parses(loader):
    call = V.python_call(loader)
    tree = ast.parse(call)  # a SyntaxError here is a fix a user cannot paste
    variant = loader.partition("[")[2]
    assert not variant or f"[{variant}" not in call, call  # no bracket notation left
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert names <= PLACEHOLDERS | MODULES, (call, names - PLACEHOLDERS - MODULES)
    # the API the loader is named after is what the line calls
    name = loader.split("[")[0]
    assert name.rsplit(".", 1)[-1] in call, call


def test_calls_that_take_no_path_are_written_with_what_they_take():
    assert V.python_call("tf.compat.v1.saved_model.loader.load").endswith(
        'tf.compat.v1.saved_model.loader.load(sess, ["serve"], path)')
    assert "GraphDef.FromString" in V.python_call("tf.compat.v1.import_graph_def")
    assert V.python_call("tf.train.Checkpoint.restore[MirroredStrategy]") == \
        "with tf.distribute.MirroredStrategy().scope(): " \
        "tf.train.Checkpoint(model=model).restore(path)"
    # a variant the table does not know keeps the plain call, its name after it
    assert V.python_call("tf.saved_model.load[foo=1,bar]") == \
        "tf.saved_model.load(path)  # [foo=1,bar]"


def test_run_flags_add_the_save_versions_own_cells_unless_told_not_to():
    mx = from_flags(["2.12"], ["2.16"], models=["mlp"], formats=["h5"])
    pairs = {(c.save_tf, c.load_tf) for c in mx.cells()}
    assert pairs == {("2.12", "2.16"), ("2.12", "2.12")}
    mx = from_flags(["2.12"], ["2.16"], models=["mlp"], formats=["h5"], baseline=False)
    assert {(c.save_tf, c.load_tf) for c in mx.cells()} == {("2.12", "2.16")}
    # several saves: each its own diagonal, no cross pair between the saves
    mx = from_flags(["2.12", "2.13"], ["2.16"], models=["mlp"], formats=["h5"])
    assert {(c.save_tf, c.load_tf) for c in mx.cells()} == {
        ("2.12", "2.16"), ("2.13", "2.16"), ("2.12", "2.12"), ("2.13", "2.13")}


# -- small differences: stated with their size, never advice to re-save ----------------------
def _lite(diff, rel=None, error="predictions: output 0 beyond rtol=1e-05, atol=1e-05", **kw):
    return mismatch("2.13", "2.21", "sig", "tflite", "tf.lite.Interpreter", ["predictions"],
                    max_abs_diff=diff, max_rel_diff=rel, rtol=1e-5, atol=1e-5,
                    params_total=None, params_equal=None, **kw) | \
        {"error": error}


def test_a_mismatch_within_100x_of_its_tolerance_is_near_and_said_with_its_size():
    cell = _lite(7.7e-5, 1.4e-4)
    assert V.near(cell) and V.runtime_side(cell)
    assert V.moved(cell) == "outputs move by 7.7e-05 (relative 1.4e-04) against tolerance 1e-05"
    assert not V.near(_lite(2e-3, 5e-1))  # 200x: not small
    assert V.near(_lite(2e-3, 5e-4))  # 50x the rtol
    # a dtype or shape change is never small, whatever the numbers
    assert not V.near(_lite(1e-5, error="predictions: output 0: dtype float32 != float16"))
    params_too = mismatch("2.13", "2.21", "m", "h5", "x", ["parameters", "predictions"],
                          max_abs_diff=2e-5, rtol=1e-5, atol=1e-5)
    assert not V.near(params_too) and not V.runtime_side(params_too)


def test_try_states_a_runtime_side_difference_and_does_not_advise_re_saving():
    from harness.commands.try_cmd import _native_line, _suggest

    cell = _lite(7.7e-5, 1.4e-4)
    assert _native_line("tf.lite.Interpreter", cell) == (
        "`tf.lite.Interpreter` loads; outputs move by 7.7e-05 (relative 1.4e-04) against "
        "tolerance 1e-05 (within 100x of it)")  # a .tflite's weights are not paired by name
    assert _suggest(cell) == "7.7e-05"
    far = _lite(3.0, 3.0)
    assert "silently wrong" in _native_line("tf.lite.Interpreter", far)


def test_try_render_of_a_tflite_whose_kernels_moved_under_a_newer_runtime(tmp_path):
    from harness.commands.try_cmd import render
    from harness.regression.model import Fixture

    fx = Fixture(tmp_path, {"name": "sig", "format": "tflite", "artifact": "artifact/sig.tflite",
                            "producer": {"tf": "2.13.1", "source": "artifact: CONVERSION_METADATA"},
                            "origin": {"source": "sig.tflite"}, "inputs_source": "synthesized",
                            "reference": {"source": "producer", "detail": "computed under TF "
                                          "2.13.1", "tolerance": [0.0, 1e-4]}})
    versions = {"tf": "2.21.0", "keras": "3.15.1"}
    rows = [_lite(7.7e-5, 1.4e-4) | {"load_versions": versions},
            _lite(1.4e-5, 2.0e-5) | {"loader": "ai_edge_litert.interpreter.Interpreter",
                                     "load_versions": versions}]
    text, ok = render(fx, rows, ["2.21"])
    assert not ok  # beyond the tolerance is still not a pass
    assert ("TF 2.21 (tf 2.21.0, keras 3.15.1): `tf.lite.Interpreter` loads; outputs move by "
            "7.7e-05 (relative 1.4e-04) against tolerance 1e-05") in text
    assert "re-save" not in text and "silently wrong" not in text
    assert ("instead: keep the file: the difference is TF 2.21's TFLite kernels on the "
            "same bytes; if it is within what you need, say so with --rtol/--atol "
            "(e.g. --atol 7.7e-05)") in text
    assert "tolerance: rtol 0, atol 0.0001 (given: it replaces the per-dtype and per-format " \
        "ones)" in text
    assert text.endswith("native loader `tf.lite.Interpreter`: loads with outputs that move "
                         "slightly (see above) under 2.21")


def test_try_and_fixtures_add_take_rtol_and_atol():
    import argparse

    from harness.cli import build_parser
    from harness.commands.fixtures import given_tolerance
    from harness.errors import UserError

    parser = build_parser()
    args = parser.parse_args(["try", "m.tflite", "--load", "2.21", "--atol", "1e-4"])
    assert given_tolerance(args) == (0.0, 1e-4)
    args = parser.parse_args(["fixtures", "add", "m.tflite", "--name", "m", "--rtol", "1e-5",
                              "--atol", "2e-5"])
    assert given_tolerance(args) == (1e-5, 2e-5)
    args = parser.parse_args(["fixtures", "add", "m.tflite", "--name", "m",
                              "--tolerance", "1e-3,1e-3"])
    assert given_tolerance(args) == (1e-3, 1e-3)
    with pytest.raises(UserError, match="not both"):
        given_tolerance(argparse.Namespace(rtol=1e-5, atol=None, tolerance="1e-3,1e-3"))
    with pytest.raises(UserError, match="must be >= 0"):
        given_tolerance(argparse.Namespace(rtol=-1.0, atol=None, tolerance=None))


def test_try_names_the_step_of_ours_that_crashed_on_a_passing_row():
    from harness.verdict.decide import row_figures as _diff

    ok = row("2.12", "2.16", "m", "tflite", "tf.lite.Interpreter", "pass", max_abs_diff=0.0,
             params_total=None, params_equal=None,
             notes={"params": "not read", "parameter_listing": "parameter listing crashed "
                    "(SIGSEGV); outputs judged alone"})
    # no "params by value only": nothing was looked up by value, the listing crashed
    assert _diff(ok) == ("max |diff| 0, parameter listing crashed (SIGSEGV); outputs judged "
                         "alone")


def test_try_keeps_the_file_for_a_near_miss_with_bit_identical_weights_in_any_format(tmp_path):
    from harness.commands.try_cmd import render
    from harness.regression.model import Fixture

    fx = Fixture(tmp_path, {"name": "m", "format": "keras", "artifact": "artifact/m.keras",
                            "producer": {"tf": "2.12"}, "origin": {"source": "m.keras"},
                            "reference": {"source": "producer"}})
    near = mismatch("2.12", "2.16", "m", "keras", "keras.models.load_model", ["predictions"],
                    max_abs_diff=3e-6, max_rel_diff=4e-6, rtol=1e-6, atol=1e-6, params_equal=4)
    text, _ = render(fx, [near | {"load_versions": {"tf": "2.16.2", "keras": "3.15.1"}}],
                     ["2.16"])
    assert ("instead: keep the file: the difference is TF 2.16's kernels (the parameters are "
            "bit-identical); if it is within what you need, say so with --rtol/--atol "
            "(e.g. --atol 3.1e-06)") in text
    assert "loads; outputs move by 3.0e-06 (relative 4.0e-06) against tolerance 1e-06 (within " \
        "100x of it; parameters bit-identical)" in text
    assert "re-save" not in text and "or migrate" not in text


def test_the_default_delegates_share_of_a_difference_is_said_only_where_measured():
    from harness.verdict import decide as verdict

    base = row("2.13", "2.21", "m", "tflite", "tf.lite.Interpreter", "mismatch",
               max_abs_diff=7.7e-5, max_rel_diff=3.8e-4, rtol=1e-5, atol=1e-5,
               error="predictions: output 0 beyond rtol=1e-05, atol=1e-05")
    assert verdict.delegate_effect(base) == ""
    assert "delegate" not in verdict.size(base)
    seen = base | {"notes": {"default_delegate_max_abs_diff": 6.3e-5}}
    assert verdict.delegate_effect(seen) == ("the default delegate (XNNPACK) alone moves them "
                                             "by 6.3e-05 under this TF")
    assert verdict.size(seen).endswith("; " + verdict.delegate_effect(seen))
    assert verdict.delegate_effect(base | {"notes": {"default_delegate_max_abs_diff": 0.0}}) \
        == ""


def test_without_a_baseline_a_loader_is_either_passing_or_failing_never_both(tmp_path):
    """No X -> X cells: the counts add up, and a loader that passes for one format and fails for
    another is said once, under "fail" (the published fixtures verdict listed
    `keras.models.load_model` under both, "5 of 7 pass, 3 fail")."""
    import re

    from support.runs import make_run, sample_rows

    from harness.findings.advise import verdicts
    from harness.results.view import RunView

    rows = [r for r in sample_rows() if (r["save_tf"], r["load_tf"]) == ("2.12", "2.16")]
    lines = verdicts(RunView(make_run(tmp_path, rows=rows)), width=400)
    m = re.search(r"(\d+) of (\d+) native loader\(s\) that give back a model pass, (\d+) fail",
                  lines[0])
    assert m, lines
    passing = re.findall(r"`([^`]+)`", next(ln for ln in lines if ln.startswith("  pass: ")))
    failing = re.findall(r"`([^`]+)`", next(ln for ln in lines if ln.startswith("  fail: ")))
    assert not set(passing) & set(failing), lines
    assert int(m.group(1)) + int(m.group(3)) == int(m.group(2)) == len(passing) + len(failing)
    assert "keras.models.load_model" in failing  # passes for mlp's h5, fails elsewhere


def test_try_names_the_layer_a_mismatch_starts_at(tmp_path):
    from harness.commands.try_cmd import render
    from harness.regression.model import Fixture

    fx = Fixture(tmp_path, {"name": "m", "format": "keras", "artifact": "artifact/m.keras",
                            "producer": {"tf": "2.15.1", "source": "given"},
                            "origin": {"source": "m.keras"}, "inputs_source": "synthesized",
                            "reference": {"source": "producer", "detail": "computed under TF "
                                          "2.15.1"}})
    rows = [row("2.15", "2.16", "m", "keras", "keras.models.load_model", "mismatch",
                differs=["predictions"], max_abs_diff=1.2e-3, rtol=1e-3, atol=1e-3,
                diverges_at={"layer": "dense_1", "class": "Dense", "max_abs_diff": 1.2e-3,
                             "dtype_policy": "mixed_float16"},
                tolerance_to_pass={"atol": 2e-3},
                load_versions={"tf": "2.16.2", "keras": "3.15.1"})]
    text, ok = render(fx, rows, ["2.16"])
    assert not ok
    assert "  diverges from layer `dense_1` (Dense, mixed_float16) on; passes at atol 2.0e-03" \
        in text
