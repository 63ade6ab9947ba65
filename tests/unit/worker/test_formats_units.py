"""The parts of issue 3 that need no TensorFlow: converter pins per TF minor, environment
identity, and the explicit tolerances of converted and quantized formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.envs.uv import UvEnvironment
from harness.plan.specs import EnvSpec
from harness.verdict.judge import judge
from harness.vocab import FORMAT_LOADERS, FORMAT_TOLERANCES, FORMATS, MODELS

INPUTS = np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2)
REF_Y = np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)


def test_every_format_of_the_design_is_in_the_vocabulary():
    assert set(FORMATS) == {"savedmodel", "keras-savedmodel", "keras", "keras-v3", "h5",
                            "weights-h5", "weights-h5-v3", "weights-tf", "tf-checkpoint",
                            "tf1-checkpoint", "frozen-graph", "tflite", "tflite-dynamic", "onnx"}
    assert {"qat", "mirrored", "seq", "multi_io", "text", "norm", "mixed", "custom_fn"} <= \
        set(MODELS)
    assert FORMAT_LOADERS["onnx"] == ("onnxruntime.InferenceSession",)


def test_tfmot_only_where_keras_2_is_what_the_worker_uses():
    assert EnvSpec.parse("2.12").optional_requirements()["tfmot"] == [
        "tensorflow-model-optimization==0.7.5"]
    assert "tfmot" not in EnvSpec.parse("2.21").optional_requirements()  # Keras 3
    assert EnvSpec.parse("2.16+tf_keras").optional_requirements()["tfmot"] == [
        "tensorflow-model-optimization==0.8.*"]
    for spec in ("2.12", "2.21"):
        groups = EnvSpec.parse(spec).optional_requirements()
        assert groups["onnx"][0] == "tf2onnx==1.17.0" and groups["onnxruntime"]


def test_optional_converters_are_part_of_the_environment_identity(tmp_path):
    env = UvEnvironment(EnvSpec.parse("2.12"), tmp_path)
    assert env.requested()["optional"] == EnvSpec.parse("2.12").optional_requirements()
    # the key changes with them: an environment cached before them is rebuilt, not reused
    assert UvEnvironment(_NoOptional("2.12"), tmp_path).key != env.key


class _NoOptional(EnvSpec):
    def optional_requirements(self):
        return {}


def _cell(tmp_path: Path, fmt: str, y: np.ndarray, quantized: bool = False):
    ref = tmp_path / "ref"
    ref.mkdir()
    np.savez(ref / "reference.npz", inputs=INPUTS, y0=REF_Y)
    (ref / "reference.json").write_text(json.dumps({"model": "mlp", "scope": "mlp",
                                                    "n_outputs": 1, "param_names": []}))
    np.savez(tmp_path / "l.npz", y0=y)
    result = {"status": "ok", "loader": "tf.lite.Interpreter", "n_outputs": 1,
              "param_names": None, "notes": {"params": "not exposed by name"}}
    return judge(result, tmp_path / "l.npz", ref, {"format": fmt, "quantized": quantized})


def test_converted_formats_get_their_stated_tolerance(tmp_path):
    y = REF_Y + 3e-6  # what TFLite's kernels give a float32 MLP
    row = _cell(tmp_path, "tflite", y)
    assert row["status"] == "pass"
    assert (row["rtol"], row["atol"]) == FORMAT_TOLERANCES["tflite"][0]
    assert "TFLite kernels" in row["notes"]["tolerance"]


def test_a_float_format_does_not_get_the_quantized_tolerance(tmp_path):
    row = _cell(tmp_path, "tflite", REF_Y + 0.03)
    assert row["status"] == "mismatch" and "beyond" in row["error"]


def test_quantized_artifacts_get_the_loose_tolerance_and_say_so(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    dyn = _cell(tmp_path / "a", "tflite-dynamic", REF_Y + 0.03)
    assert dyn["status"] == "pass" and dyn["rtol"] == 0.1
    qat_onnx = _cell(tmp_path / "b", "onnx", REF_Y + 0.05, quantized=True)
    assert qat_onnx["status"] == "pass" and "quantized" in qat_onnx["notes"]["tolerance"]


def _ref(tmp_path: Path, meta: dict, **arrays) -> Path:
    ref = tmp_path / "ref"
    ref.mkdir()
    np.savez(ref / "reference.npz", **arrays)
    (ref / "reference.json").write_text(json.dumps({"model": "seq", "scope": "seq"} | meta))
    return ref


W = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)


def test_resume_ok_and_a_lost_optimizer_state_says_so(tmp_path):
    ref = _ref(tmp_path, {"n_outputs": 0, "param_names": [],
                          "resume": {"param_names": ["seq/dense/kernel"], "iterations": 2,
                                     "optimizer": "Adam"}}, r0=W)
    np.savez(tmp_path / "ok.npz", r0=W + 1e-8)
    ok = judge({"status": "ok", "n_outputs": 0, "param_names": None,
                "resume_param_names": ["dense/kernel:0"],
                "resume": {"iterations_loaded": 2, "optimizer": "Adam"}},
               tmp_path / "ok.npz", ref, {})
    assert ok["resume_ok"] is True and ok["status"] == "pass"
    np.savez(tmp_path / "lost.npz", r0=W + 1e-3)
    lost = judge({"status": "ok", "n_outputs": 0, "param_names": None,
                  "resume_param_names": ["dense/kernel:0"],
                  "resume": {"iterations_loaded": 0, "optimizer": "Adam"}},
                 tmp_path / "lost.npz", ref, {})
    assert lost["resume_ok"] is False and lost["status"] == "mismatch"
    assert "lost its optimizer state" in lost["error"] and "iterations 0" in lost["error"]
    raised = judge({"status": "ok", "n_outputs": 0, "param_names": None,
                    "resume": {"iterations_loaded": 2, "error": "ValueError: Unknown variable"}},
                   tmp_path / "ok.npz", ref, {})
    assert raised["resume_ok"] is False and "cannot resume" in raised["error"]
    no_optimizer = judge({"status": "ok", "n_outputs": 0, "param_names": None, "resume": None},
                         tmp_path / "ok.npz", ref, {})
    assert no_optimizer["resume_ok"] is None


def test_strings_ids_and_float16_outputs(tmp_path):
    words = np.array([["a"], ["b"]], dtype=str)
    half = np.array([1.0, 2.0], np.float16)
    ref = _ref(tmp_path, {"n_outputs": 2, "param_names": ["vectorize/vocabulary"]},
               y0=words, y1=half, p0=np.array(["", "[UNK]", "cat"], dtype=str))
    np.savez(tmp_path / "same.npz", y0=words, y1=half + np.float16(1e-3), p0=np.array(
        ["", "[UNK]", "cat"], dtype=str))
    result = {"status": "ok", "n_outputs": 2, "param_names": ["vectorize/vocabulary"],
              "state_exposed": True}
    same = judge(result, tmp_path / "same.npz", ref, {})
    assert same["status"] == "pass" and same["rtol"] == 1e-3
    np.savez(tmp_path / "other.npz", y0=np.array([["a"], ["c"]], dtype=str),
             y1=half.astype(np.float32), p0=np.array(["", "[UNK]"], dtype=str))
    other = judge(result, tmp_path / "other.npz", ref, {})
    assert other["status"] == "mismatch" and "1 values differ" in other["error"]
    assert other["params_shape"] == 1  # the vocabulary came back shorter
    # a loader that cannot show state is judged without it, and says so
    np.savez(tmp_path / "sig.npz", y0=words, y1=half)
    sig = judge({"status": "ok", "n_outputs": 2, "param_names": []}, tmp_path / "sig.npz",
                ref, {})
    assert sig["status"] == "pass" and "vectorize/vocabulary" in \
        sig["notes"]["state_not_compared"]


def test_a_float16_output_that_comes_back_float32_is_a_mismatch(tmp_path):
    half = np.array([1.0, 2.0], np.float16)
    ref = _ref(tmp_path, {"n_outputs": 1, "param_names": []}, y0=half)
    np.savez(tmp_path / "l.npz", y0=half.astype(np.float32))
    row = judge({"status": "ok", "n_outputs": 1, "param_names": None}, tmp_path / "l.npz", ref,
                {})
    assert row["status"] == "mismatch" and "dtype float32 != float16" in row["error"]
