"""One module per format: `NAME`, `unsupported_reason(built)`, `save(built, dir)`, `LOADERS`."""

from __future__ import annotations

from . import (
    frozen_graph,
    h5,
    keras_file,
    keras_savedmodel,
    onnx_file,
    savedmodel,
    tf1_checkpoint,
    tf_checkpoint,
    tflite_dynamic,
    tflite_float,
    weights_h5,
)

FORMATS = {m.NAME: m for m in (savedmodel, keras_savedmodel, keras_file, h5, weights_h5,
                               tf_checkpoint, tf1_checkpoint, frozen_graph, tflite_float,
                               tflite_dynamic, onnx_file)}
