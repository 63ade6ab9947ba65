"""One module per format: `NAME`, `unsupported_reason(built)`, `save(built, dir)`, `LOADERS`."""

from __future__ import annotations

from . import (
    frozen_graph,
    h5,
    keras_file,
    keras_savedmodel,
    keras_v3,
    onnx_file,
    savedmodel,
    tf1_checkpoint,
    tf_checkpoint,
    tflite_dynamic,
    tflite_float,
    weights_h5,
    weights_h5_v3,
    weights_tf,
)

FORMATS = {m.NAME: m for m in (savedmodel, keras_savedmodel, keras_file, keras_v3, h5,
                               weights_h5, weights_h5_v3, weights_tf, tf_checkpoint,
                               tf1_checkpoint, frozen_graph, tflite_float, tflite_dynamic,
                               onnx_file)}
