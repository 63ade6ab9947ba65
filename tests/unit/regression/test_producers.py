"""Who wrote an artifact, from what it records (no TF): Keras versions mapped to TF releases
only where Keras followed TF's numbering (2.6-2.15), TFLite's converter from its
CONVERSION_METADATA (read by the worker; the real files are in test_tflite_user_files.py)."""

from __future__ import annotations

import pytest

from harness.commands.inspect import converter_line
from harness.regression.make import producer_of, producer_spec


def _h5(version: str) -> dict:
    return producer_of({"format": "h5", "producer_in_artifact": {"keras_version": version}},
                       None)


@pytest.mark.parametrize("version", ["1.2.2", "2.0.5", "2.1.5", "2.2.4", "2.3.1"])
def test_standalone_keras_before_2_4_is_a_tf1_era_file_with_no_tf_version(version):
    p = _h5(version)
    assert "tf" not in p and producer_spec(p) is None  # never "TF 2.0" for Keras 2.0.5
    assert p["era"] == "TF 1.x" and p["keras"] == version
    assert "did not follow TF's numbering" in p["source"]


@pytest.mark.parametrize("version,era", [("2.2.4-tf", "TF 1.13-2.2"), ("2.3.0-tf", "TF 1.13-2.2"),
                                         ("2.4.0", "TF 2.2-2.5"), ("2.5.0", "TF 2.2-2.5")])
def test_tf_keras_before_2_6_names_an_era_not_a_release(version, era):
    p = _h5(version)
    assert "tf" not in p and p["era"] == era


@pytest.mark.parametrize("version,spec", [("2.6.0", "2.6"), ("2.12.0", "2.12"),
                                          ("2.15.1", "2.15"), ("2.16.0", "2.16+tf_keras")])
def test_keras_2_6_to_2_15_ships_with_the_same_tf_and_tf_keras_after(version, spec):
    assert producer_spec(_h5(version)) == spec


def test_keras_3_records_no_tf_and_garbage_is_said_so():
    assert "Keras 3 does not record one" in _h5("3.3.3")["source"]
    assert "not a version this harness can map" in _h5("weird")["source"]


def test_a_tflite_producer_is_its_converters_tf():
    info = {"format": "tflite", "producer_in_artifact": {
        "tensorflow_version": "2.16.2", "converted_from": "KERAS_MODEL",
        "min_runtime_version": "1.5.0"}}
    p = producer_of(info, None)
    assert p["tf"] == "2.16.2" and producer_spec(p) == "2.16"
    assert "CONVERSION_METADATA" in p["source"]
    line = converter_line(info["producer_in_artifact"])
    assert line == ("converter: TF 2.16.2 (CONVERSION_METADATA; converted from KERAS_MODEL); "
                    "needs a TFLite runtime >= 1.5.0 (min_runtime_version)")
    assert converter_line({"min_runtime_version": "1.14.0"}).startswith(
        "converter: TF version not recorded")


def test_a_tflite_its_converter_quantized_is_judged_as_quantized(tmp_path):
    import json

    from harness.regression.model import Fixture
    from harness.regression.stage import quantized_by_converter

    def fx(fmt, modes):
        rec = json.dumps({"tensorflow_version": "2.16.2", "optimizations": modes})
        return Fixture(tmp_path, {"name": "m", "format": fmt, "producer": {"recorded": rec}})

    assert quantized_by_converter(fx("tflite", ["PTQ_DYNAMIC_RANGE"]))
    assert quantized_by_converter(fx("tflite", ["RANDOM_SPARSITY", "PTQ_FULL_INTEGER"]))
    assert not quantized_by_converter(fx("tflite", ["PTQ_FLOAT16"]))  # float16 weights only
    assert not quantized_by_converter(fx("tflite", ["RANDOM_SPARSITY"]))
    assert not quantized_by_converter(fx("onnx", ["PTQ_DYNAMIC_RANGE"]))
    assert not quantized_by_converter(Fixture(tmp_path, {"name": "m", "format": "tflite"}))
