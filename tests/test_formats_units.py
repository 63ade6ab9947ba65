"""The parts of issue 3 that need no TensorFlow: converter pins per TF minor, environment
identity, and the explicit tolerances of converted and quantized formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.envs.uv import UvEnvironment
from harness.judge import judge
from harness.specs import EnvSpec
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
