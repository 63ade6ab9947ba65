"""`.tflite` files a user brings, in real TF: a sparse (DENSIFY) file that TF's own converter
writes goes through `harness try` (its producer read from CONVERSION_METADATA) with the
parameter listing in a forked copy of the
interpreter (harness/worker/isolate.py; its crash handling is in test_isolate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.paths import TESTS

from harness import cli, procs
from harness.results.store import read_run

SPARSE = r'''
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf
rng = np.random.default_rng(0)
inp = tf.keras.Input((64,), name="x")
hidden = tf.keras.layers.Dense(64, activation="relu")
model = tf.keras.Model(inp, tf.keras.layers.Dense(4, activation="sigmoid")(hidden(inp)))
k, b = hidden.get_weights()
k[rng.random(k.shape) < 0.9] = 0  # pruned: the converter stores it sparse, read via DENSIFY
hidden.set_weights([k, b])
conv = tf.lite.TFLiteConverter.from_keras_model(model)
conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
open(sys.argv[1], "wb").write(conv.convert())
interp = tf.lite.Interpreter(model_path=sys.argv[1])
print("OPS", [d["op_name"] for d in interp._get_ops_details()])
'''


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    rc = cli.main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_try_a_sparse_densify_tflite_passes_where_the_interpreter_runs_it(
        tmp_path, cache_dir, uv_available, capsys):
    from harness.envs.uv import UvEnvironment
    from harness.plan.specs import EnvSpec

    env = UvEnvironment(EnvSpec.parse("2.15"), cache_dir)  # a 2.14+ converter
    env.create()
    (tmp_path / "make.py").write_text(SPARSE)
    lite = tmp_path / "pruned.tflite"
    res = procs.run([str(env.interpreter), "-I", str(tmp_path / "make.py"), str(lite)],
                    env=env.worker_env(), timeout=600)
    assert lite.is_file(), res.stderr[-2000:]
    assert "'DENSIFY'" in res.stdout  # the file really holds a sparse tensor
    rc, out, err = _cli(["try", str(lite), "--load", "2.15,2.16",
                         "--cache-dir", str(cache_dir), "--results-dir", str(tmp_path / "r")],
                        capsys)
    rows = read_run(Path(out.rsplit("results: ", 1)[1].split()[0])).rows
    native = {r["load_tf"]: r for r in rows if r["loader"] == "tf.lite.Interpreter"}
    # no --tf: the producer is the converter's TF, recorded in CONVERSION_METADATA
    assert "written by TF 2.15.1 (artifact: CONVERSION_METADATA" in out, out + err
    assert "reference: computed under TF 2.15.1" in out, out
    for load in ("2.15", "2.16"):
        assert native[load]["status"] == "pass", (native[load], out, err)
        notes = native[load]["notes"]
        # the listing ran to its end in the forked copy: it found the reference weights
        assert "parameter_listing" not in notes, notes
        assert notes["params"].startswith("not exposed by name"), notes
        # found by running: the sparse kernel (its 384 stored values, read by DENSIFY) and the
        # head's kernel; the zero biases are folded away by the converter
        assert notes["constants_listed"] == 2, notes
    assert rc == 0, out + err


def test_inspect_prints_the_converters_tf_of_a_real_tflite(tmp_path, cache_dir, uv_available,
                                                          capsys):
    from harness.envs.uv import UvEnvironment
    from harness.plan.specs import EnvSpec

    env = UvEnvironment(EnvSpec.parse("2.15"), cache_dir)
    env.create()
    (tmp_path / "make.py").write_text(SPARSE)
    lite = tmp_path / "pruned.tflite"
    procs.run([str(env.interpreter), "-I", str(tmp_path / "make.py"), str(lite)],
              env=env.worker_env(), timeout=600)
    rc, out, err = _cli(["inspect", str(lite), "--tf", "2.21", "--cache-dir", str(cache_dir)],
                        capsys)
    assert rc == 0, err
    assert ("converter: TF 2.15.1 (CONVERSION_METADATA; converted from KERAS_MODEL; "
            "RANDOM_SPARSITY); needs a TFLite runtime >= 2.2.0") in out, out
    assert "variables: 2, model parameters: 4352" in out, out  # listed in the forked copy


def test_a_segfault_in_the_listing_leaves_the_user_calls_outputs_to_be_judged(
        tmp_path, cache_dir, uv_available, monkeypatch):
    """A real worker, a real zoo .tflite, a real SIGSEGV in the listing's forked copy (the
    worker's test hook; the sparse file that did it is not redistributable): the cell's result
    is the interpreter's outputs, equal to the reference, with the step that crashed named; the
    same worker goes on and lists the next cell's tensors."""
    import numpy as np

    from harness.envs.uv import UvEnvironment
    from harness.plan.specs import EnvSpec
    from harness.run import batch as execute
    from harness.verdict.compare import compare_predictions

    monkeypatch.setenv("HARNESS_WORKER_TEST_HOOKS", "1")
    env = UvEnvironment(EnvSpec.parse("2.12"), cache_dir)
    env.create()
    art = tmp_path / "save"
    saved = {}
    execute.run_batch(env, "save", [{"id": "s0", "model": "mlp", "format": "tflite",
                                     "artifact_dir": str(art / "tflite"),
                                     "reference_dir": str(art)}], tmp_path / "w1",
                      cell_timeout=600, on_result=lambda r, res: saved.update(res))
    assert saved.get("status") == "ok", saved
    load = {"model": "mlp", "format": "tflite", "loader": "tf.lite.Interpreter",
            "artifact_dir": str(art / "tflite"), "reference_dir": str(art)}
    results = {}
    execute.run_batch(env, "load", [load | {"id": "l0", "test_hook": "segfault_in_child"},
                                    load | {"id": "l1"}], tmp_path / "w2", cell_timeout=600,
                      on_result=lambda r, res: results.__setitem__(r["id"], res))
    crashed, clean = results["l0"], results["l1"]
    assert crashed["status"] == "ok", crashed  # not a crash: the user's calls succeeded
    assert crashed["notes"]["parameter_listing"] == ("parameter listing crashed (SIGSEGV); "
                                                     "outputs judged alone")
    with np.load(tmp_path / "w2" / "l0.npz") as got, np.load(art / "reference.npz") as ref:
        rep = compare_predictions([got["y0"]], [ref["y0"]], floor=(1e-5, 1e-5))
    assert rep.within, rep
    assert clean["status"] == "ok" and "parameter_listing" not in clean["notes"]
    assert clean["notes"]["constants_listed"] == 4  # two kernels, two biases


CORPUS = TESTS / "data" / "third-party"  # README there: origin, licence
MEDIAPIPE_SPARSE = CORPUS / "tflite" / "mediapipe_face_detection_full_range_sparse.tflite"


@pytest.mark.skipif(not MEDIAPIPE_SPARSE.is_file(), reason=f"no corpus at {CORPUS}")
def test_try_the_real_sparse_mediapipe_tflite_passes_where_its_listing_segfaults(
        tmp_path, cache_dir, uv_available, capsys):
    """MediaPipe 0.10.14's full-range face detector (Apache-2.0, 46 sparse tensors read by
    DENSIFY): `allocate_tensors`/`invoke`/`get_tensor` work under TF 2.12 and 2.16, and
    `get_tensor_details()` after them dies with SIGSEGV (exit 139, checked by hand in both).
    The cells pass on their outputs and name the step that crashed; inspect lists no variables
    and says why, instead of 'cannot be read'."""
    rc, out, err = _cli(["try", str(MEDIAPIPE_SPARSE), "--load", "2.12,2.16", "--cache-dir",
                         str(cache_dir), "--results-dir", str(tmp_path / "r")], capsys)
    rows = read_run(Path(out.rsplit("results: ", 1)[1].split()[0])).rows
    native = {r["load_tf"]: r for r in rows if r["loader"] == "tf.lite.Interpreter"}
    for load in ("2.12", "2.16"):
        assert native[load]["status"] == "pass", (native[load], out, err)
        assert native[load]["notes"]["parameter_listing"] == (
            "parameter listing crashed (SIGSEGV); outputs judged alone")
    assert "`tf.lite.Interpreter` loads it with the same predictions (weights not compared " \
        "by name: parameter listing crashed (SIGSEGV); outputs judged alone)" in out, out
    assert rc == 0, out + err
    rc, out, err = _cli(["inspect", str(MEDIAPIPE_SPARSE), "--tf", "2.16", "--cache-dir",
                         str(cache_dir)], capsys)
    assert rc == 0, err
    assert "variables: not listed (tensor listing (get_tensor_details) crashed (SIGSEGV)" in out
    assert "converter: TF version not recorded (no CONVERSION_METADATA); needs a TFLite " \
        "runtime >= 2.2.0" in out


BASIC_PITCH = CORPUS / "tflite" / "basic_pitch_nmp.tflite"
FER_H5 = CORPUS / "h5" / "fer_emotion_model.hdf5"


@pytest.mark.skipif(not BASIC_PITCH.is_file(), reason=f"no corpus at {CORPUS}")
def test_try_says_how_far_a_newer_tflite_runtime_moves_the_outputs_and_keeps_the_file(
        tmp_path, cache_dir, uv_available, capsys):
    """Spotify's Basic Pitch 0.4.0 .tflite (Apache-2.0; CONVERSION_METADATA: TF 2.13.0):
    its sigmoid outputs move by 7.7e-05 under TF 2.21's interpreter (found by running; 1.2e-07
    under 2.16's).  try reads the producer from the file, says the size, and does not advise
    re-saving: the bytes are the same, the kernels are not."""
    rc, out, err = _cli(["try", str(BASIC_PITCH), "--load", "2.21", "--cache-dir",
                         str(cache_dir), "--results-dir", str(tmp_path / "r")], capsys)
    assert "written by TF 2.13.0 (artifact: CONVERSION_METADATA" in out, out + err
    assert "reference: computed under TF 2.13" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("TF 2.21 "))
    assert "`tf.lite.Interpreter` loads; outputs move by 7.7e-05 (relative" in line, line
    assert "against tolerance 1e-05 (within 100x of it)" in line
    assert "re-save" not in out and "silently wrong" not in out
    assert "instead: keep the file: the difference is TF 2.21's TFLite kernels on the same " \
        "bytes" in out
    assert rc == 1  # still beyond the tolerance: said, not passed


@pytest.mark.skipif(not FER_H5.is_file(), reason=f"no corpus at {CORPUS}")
def test_a_keras_2_0_5_h5_is_a_tf1_era_file_referenced_from_the_oldest_target(
        tmp_path, cache_dir, uv_available, capsys):
    """fer 25.10.3's emotion_model.hdf5 (MIT), written by standalone Keras 2.0.5 in the TF 1.x
    era: not 'TF 2.0'; the reference comes from the oldest target that loads it, and try says
    so.  Found by running: TF 2.12 loads it exactly; under 2.16 the default load raises on the
    optimizer's `lr` and compile=False gives it back."""
    rc, out, err = _cli(["try", str(FER_H5), "--load", "2.12,2.16", "--cache-dir",
                         str(cache_dir), "--results-dir", str(tmp_path / "r")], capsys)
    assert "written in the TF 1.x era (no TF version recorded) / Keras 2.0.5" in out, out + err
    assert "TF 2.0" not in out
    assert ("reference: taken from TF 2.12.1 / Keras 2.12.0, the oldest target that loads it "
            "(keras.models.load_model[compile=False]), not from the producer: a TF 1.x-era file "
            "(Keras 2.0.5, which names no TF release)") in out, out
    rows = read_run(Path(out.rsplit("results: ", 1)[1].split()[0])).rows
    by = {(r["load_tf"], r["loader"]): r for r in rows}
    assert by[("2.12", "keras.models.load_model")]["status"] == "pass"
    assert by[("2.16", "keras.models.load_model")]["status"] == "load-error"
    assert by[("2.16", "keras.models.load_model[compile=False]")]["status"] == "pass"
    assert "instead: load with `keras.models.load_model(path, compile=False)`" in out


FER_Q = CORPUS / "tflite" / "fer_emotion_model_quantized.tflite"


@pytest.mark.skipif(not FER_Q.is_file(), reason=f"no corpus at {CORPUS}")
def test_a_tflite_its_converter_quantized_gets_the_quantized_tolerance(
        tmp_path, cache_dir, uv_available, capsys):
    """fer 25.10.3's emotion_model_quantized.tflite (MIT; CONVERSION_METADATA: TF 2.16.2,
    PTQ_DYNAMIC_RANGE): found by running, its outputs move by 1.0e-02 under TF 2.21's kernels;
    judged as the quantized artifact it is (1e-1, as the zoo's tflite-dynamic), it passes, and
    the row says which tolerance and why."""
    rc, out, err = _cli(["try", str(FER_Q), "--load", "2.21", "--cache-dir", str(cache_dir),
                         "--results-dir", str(tmp_path / "r")], capsys)
    rows = read_run(Path(out.rsplit("results: ", 1)[1].split()[0])).rows
    native = next(r for r in rows if r["loader"] == "tf.lite.Interpreter")
    assert native["status"] == "pass", (native, out, err)
    assert 1e-3 < native["max_abs_diff"] < 1e-1  # a real difference, within the quantized one
    assert "quantized model converted to int8 arithmetic" in native["notes"]["tolerance"]
    assert rc == 0, out + err
