"""The formats of issue 3, for real: TF 2.12 (Keras 2.12) and TF 2.21 (Keras 3) in uv
environments, every artifact saved by one and loaded by the other and by itself.

The expected statuses were found by running (see docs/formats.md for why each one is what it
is); if an upstream release changes one, the test names the cell and quotes the error."""

from __future__ import annotations

import pytest

from harness.run.runner import Run, RunOptions
from harness.vocab import FORMAT_LOADERS

pytestmark = [pytest.mark.tf, pytest.mark.crossversion]

NEW_FORMATS = ("keras-savedmodel", "tf1-checkpoint", "frozen-graph", "tflite", "tflite-dynamic",
               "onnx")
DIRECTIONS = [("2.12", "2.12"), ("2.12", "2.21"), ("2.21", "2.12"), ("2.21", "2.21")]
P, M, LE, SE, U = "pass", "mismatch", "load-error", "save-error", "unsupported"
ALL_P = [P, P, P, P]
TFSM = "keras.layers.TFSMLayer"
LITERT = "ai_edge_litert.interpreter.Interpreter"

# (format, loader) -> statuses for 2.12->2.12, 2.12->2.21, 2.21->2.12, 2.21->2.21
MLP = {
    # Keras 3 load_model refuses any SavedModel; Keras 2 cannot rebuild Keras 3's export
    # ... and Keras 2's own SavedModel comes back with a fresh optimizer (iterations 0): resume
    ("keras-savedmodel", "keras.models.load_model"): [M, LE, LE, LE],
    ("keras-savedmodel", TFSM): [U, LE, U, P],  # Keras 2's save has no "serve" endpoint
    ("keras-savedmodel", f"{TFSM}[call_endpoint=serving_default]"): [U, P, U, P],
    ("keras-savedmodel", "tf.saved_model.load"): ALL_P,
    # Keras 3's model.export (unlike its tf.saved_model.save) serves to TF1-style code too
    ("keras-savedmodel", "tf.compat.v1.saved_model.loader.load"): ALL_P,
    ("tf1-checkpoint", "tf.compat.v1.train.import_meta_graph"): ALL_P,
    ("tf1-checkpoint", "tf.compat.v1.train.Saver[var_list]"): ALL_P,
    ("tf1-checkpoint", "tf.train.load_checkpoint"): ALL_P,
    ("frozen-graph", "tf.compat.v1.import_graph_def"): ALL_P,
    ("frozen-graph", "tf.compat.v1.wrap_function"): ALL_P,  # the TF2 way, no Session
    ("tflite", "tf.lite.Interpreter"): ALL_P,
    ("tflite", LITERT): ALL_P,
    # TF 2.21's converter writes FULLY_CONNECTED version 12, which TF 2.12's runtime lacks;
    # ai_edge_litert (the same package on both sides) reads it
    ("tflite-dynamic", "tf.lite.Interpreter"): [P, P, LE, P],
    ("tflite-dynamic", LITERT): ALL_P,
    ("onnx", "onnxruntime.InferenceSession"): ALL_P,
}
RNN = dict(MLP) | {  # an LSTM with a dynamic batch does not convert to TFLite (TensorListReserve)
    (f, ld): [SE, SE, SE, SE] for f in ("tflite", "tflite-dynamic")
    for ld in ("tf.lite.Interpreter", LITERT)}
MODULE = dict(MLP) | {  # a tf.Module is not a Keras model; its MatMul converts without FC v12
    ("keras-savedmodel", ld): [U, U, U, U] for ld in FORMAT_LOADERS["keras-savedmodel"]} | {
    ("tflite-dynamic", "tf.lite.Interpreter"): ALL_P}
EXPECTED = {"mlp": MLP, "rnn": RNN, "module": MODULE}


def _run(tmp_path_factory, cache_dir, models, formats):
    opts = RunOptions(load_cache=False, save=["2.12", "2.21"], load=["2.12", "2.21"], models=models,
                      formats=list(formats), results_dir=tmp_path_factory.mktemp("results"),
                      cache_dir=cache_dir)
    return Run(opts).execute().rows()


def _by_cell(rows) -> dict:
    return {(r["model"], r["format"], r["loader"], r["save_tf"], r["load_tf"]): r for r in rows}


def _wrong(cells: dict, expected: dict) -> list[str]:
    wrong = []
    for model, table in expected.items():
        for (fmt, loader), statuses in table.items():
            for (s, ld), want in zip(DIRECTIONS, statuses, strict=True):
                row = cells[(model, fmt, loader, s, ld)]
                if row["status"] != want:
                    wrong.append(f"{model} {s}->{ld} {fmt} {loader}: {row['status']} (expected "
                                 f"{want}) {row.get('error_type')}: {str(row.get('error'))[:300]}")
    return wrong


@pytest.fixture(scope="module")
def rows(tmp_path_factory, cache_dir, uv_available):
    return _run(tmp_path_factory, cache_dir, ["mlp", "rnn", "module"], NEW_FORMATS)


def test_every_new_format_has_every_cell(rows):
    n_loaders = sum(len(FORMAT_LOADERS[f]) for f in NEW_FORMATS)
    assert len(rows) == 4 * 3 * n_loaders
    assert {r["format"] for r in rows} == set(NEW_FORMATS)


def test_statuses_match_what_the_versions_do(rows):
    wrong = _wrong(_by_cell(rows), EXPECTED)
    assert not wrong, "\n".join(wrong)


def test_same_version_native_loaders_pass_or_quote_tfs_own_save_error(rows):
    native = {"keras-savedmodel": "tf.saved_model.load",
              "tf1-checkpoint": "tf.compat.v1.train.import_meta_graph",
              "frozen-graph": "tf.compat.v1.import_graph_def", "tflite": "tf.lite.Interpreter",
              "tflite-dynamic": "tf.lite.Interpreter", "onnx": "onnxruntime.InferenceSession"}
    for r in rows:
        if r["save_tf"] != r["load_tf"] or native[r["format"]] != r["loader"]:
            continue
        if r["status"] == SE:  # TF's own converter message, with its exception type
            assert r["error_type"].endswith("ConverterError"), r
            assert "TensorListReserve" in r["error"], r["error"][:300]
        else:
            assert r["status"] in (P, U), (r["model"], r["format"], r["status"], r["error"])


def test_converted_formats_state_their_tolerance_and_find_the_weights(rows):
    cells = _by_cell(rows)
    quant = cells[("mlp", "tflite-dynamic", "tf.lite.Interpreter", "2.12", "2.12")]
    assert (quant["rtol"], quant["atol"]) == (0.1, 0.1)
    assert "quantized" in quant["notes"]["tolerance"]
    assert quant["max_abs_diff"] > 1e-3  # int8 weights really change the logits
    assert quant["params_total"] is None and "int8" in quant["notes"]["params"]
    # dynamic-range quantization leaves the biases float: those are found, the kernels not
    not_found = [n.removesuffix(":0") for n in quant["notes"]["reference_params_not_found"]]
    assert not_found == ["dense/kernel", "logits/kernel"]
    flat = cells[("mlp", "tflite", "tf.lite.Interpreter", "2.21", "2.21")]
    assert (flat["rtol"], flat["atol"]) == (1e-5, 1e-5)
    assert flat["notes"]["reference_params_in_artifact"].startswith("4/4")
    assert flat["notes"]["reference_params_transposed"] == 2  # FULLY_CONNECTED keeps [out, in]
    frozen = cells[("mlp", "frozen-graph", "tf.compat.v1.import_graph_def", "2.21", "2.12")]
    assert frozen["notes"]["reference_params_in_artifact"].startswith("4/4")


def test_onnx_cells_carry_runtime_and_opset(rows):
    for r in rows:
        if r["format"] == "onnx" and r["status"] == P:
            assert r["notes"]["onnxruntime"] and r["notes"]["opset"] >= 13, r["notes"]
            assert r["notes"]["signatures_changed"] is False


def test_signatures_are_compared_on_load(rows):
    cells = _by_cell(rows)
    for s, ld in DIRECTIONS:
        r = cells[("mlp", "keras-savedmodel", "tf.saved_model.load", s, ld)]
        assert r["notes"]["signatures_changed"] is False, r["notes"]
        assert r["notes"]["signature"]["inputs"]["x"] == ["float32", [None, 784]]


def test_tf1_checkpoint_parameters_by_name_and_reader_keys(rows):
    cells = _by_cell(rows)
    for s, ld in DIRECTIONS:
        meta = cells[("mlp", "tf1-checkpoint", "tf.compat.v1.train.import_meta_graph", s, ld)]
        assert meta["params_total"] == 4 and meta["params_by_value"] == 0  # paired by name
        reader = cells[("mlp", "tf1-checkpoint", "tf.train.load_checkpoint", s, ld)]
        assert reader["notes"]["non_parameter_keys"] == 1  # global_step
        assert reader["notes"]["kept_checkpoints"] == ["model.ckpt-1.index", "model.ckpt-2.index"]


# -- qat, mirrored, checkpoint extras and h5py: the second run ---------------------------------

EXTRA_FORMATS = ("tf-checkpoint", "keras", "weights-h5")
CKPT = "tf.train.Checkpoint.restore"
LM = "keras.models.load_model"
MIRRORED = {
    ("tf-checkpoint", ld): [P, M, M, P]  # Keras 2 and 3 object graphs differ: nothing restored
    for ld in (CKPT, "tf.train.CheckpointManager", f"{CKPT}[expect_partial,new_head]",
               f"{CKPT}[MirroredStrategy]")} | {
    ("tf-checkpoint", "tf.train.load_checkpoint"): ALL_P,
    ("keras", LM): [P, LE, LE, P],  # 2.12 writes HDF5 under .keras
    ("keras", f"{LM}[MirroredStrategy]"): [P, LE, LE, P],
    ("keras", "h5py.File"): ALL_P,
    ("weights-h5", "h5py.File"): [P, P, SE, SE],  # Keras 3 refuses save_weights("x.h5")
}
QAT = {  # tfmot cannot exist under Keras 3: a 2.21 save is unsupported, so is rebuilding there
    ("tf-checkpoint", ld): [P, U, U, U]
    for ld in (CKPT, "tf.train.CheckpointManager", f"{CKPT}[expect_partial,new_head]",
               f"{CKPT}[MirroredStrategy]")} | {
    ("tf-checkpoint", "tf.train.load_checkpoint"): [P, P, U, U],
    ("keras", LM): [P, LE, U, U],  # under Keras 3 no quantize_scope: QuantizeLayer unknown
    ("keras", "h5py.File"): [P, P, U, U],
    ("weights-h5", "model.load_weights"): [P, U, U, U],
    ("weights-h5", "h5py.File"): [P, P, U, U],
}


@pytest.fixture(scope="module")
def extra_rows(tmp_path_factory, cache_dir, uv_available):
    return _run(tmp_path_factory, cache_dir, ["mlp", "qat", "mirrored"], EXTRA_FORMATS)


def test_qat_mirrored_and_checkpoint_extras(extra_rows):
    wrong = _wrong(_by_cell(extra_rows), {"mirrored": MIRRORED, "qat": QAT})
    assert not wrong, "\n".join(wrong)


def test_qat_unsupported_says_why(extra_rows):
    cells = _by_cell(extra_rows)
    r = cells[("qat", "keras", LM, "2.21", "2.21")]
    assert "Keras 2" in r["error"] and "Keras 3" in r["error"]
    loaded = cells[("qat", "keras", LM, "2.12", "2.12")]
    assert loaded["notes"]["quantize_scope"] == "used"


def test_partial_restore_brings_back_the_backbone_bit_exact(extra_rows):
    cells = _by_cell(extra_rows)
    for model in ("mlp", "mirrored"):
        r = cells[(model, "tf-checkpoint", f"{CKPT}[expect_partial,new_head]", "2.21", "2.21")]
        assert r["status"] == P and r["params_equal"] == r["params_total"] == 4
        assert r["max_abs_diff"] == 0.0


def test_checkpoint_manager_restores_the_latest_and_kept_max_to_keep(extra_rows):
    r = _by_cell(extra_rows)[("mlp", "tf-checkpoint", "tf.train.CheckpointManager", "2.12",
                              "2.12")]
    assert r["notes"]["latest_checkpoint"] == "ckpt-3"
    assert r["notes"]["checkpoints"] == ["ckpt-2", "ckpt-3"]


def test_mirrored_strategy_restore_makes_mirrored_variables(extra_rows):
    r = _by_cell(extra_rows)[("mlp", "tf-checkpoint", f"{CKPT}[MirroredStrategy]", "2.12",
                              "2.12")]
    assert r["status"] == P and "Mirrored" in r["notes"]["variable_class"]


def test_h5py_reads_keras3_files_by_position_and_keras2_by_name(extra_rows):
    cells = _by_cell(extra_rows)
    k2 = cells[("mlp", "keras", "h5py.File", "2.12", "2.21")]
    assert k2["status"] == P and k2["params_by_value"] == 0
    assert "weight_names" in k2["notes"]["layout"]
    k3 = cells[("mlp", "keras", "h5py.File", "2.21", "2.12")]
    assert k3["status"] == P and k3["params_by_value"] == k3["params_total"] == 4
    assert k3["notes"]["read_from"] == "model.weights.h5 inside the zip"


def test_keras_loaders_report_keras_own_counts(extra_rows):
    cells = _by_cell(extra_rows)
    # found by running: Keras 3 counts Dropout's seed-generator state as a non-trainable
    # variable (not in model.weights, not a parameter); Keras 2 has none
    for version, non_trainable in (("2.12", 0), ("2.21", 1)):
        notes = cells[("mlp", "keras", LM, version, version)]["notes"]
        assert notes["count_params"] == 784 * 128 + 128 + 128 * 10 + 10
        assert notes["trainable_variables"] == 4
        assert notes["non_trainable_variables"] == non_trainable
