"""What converted formats (frozen graph, TFLite, ONNX) share: the model's inference function
with a named input, and finding the reference parameters among an artifact's constants.

Converters rename weights after the ops that read them, transpose them into their own layouts
(TFLite OHWI, ONNX OIHW) and fold some away (BatchNorm into a convolution), so their constants
cannot be paired with the model's parameters by name.  They are looked up by value instead,
allowing a transposed layout, and the result is a note on the cell, not a verdict.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..runtime import tf

INPUT_NAME = "x"


def input_specs(built) -> list:
    """One spec per model input: `x` for a single float input (as ever), else the input names."""
    specs = built.input_specs()
    if len(specs) == 1:
        return [tf.TensorSpec(specs[0].shape, specs[0].dtype, name=INPUT_NAME)]
    return specs


def inference_function(built):
    """A concrete function x -> y of the model in inference mode (Dropout off, BN frozen)."""
    return inference_tf_function(built).get_concrete_function()


def inference_tf_function(built):
    """The tf.function behind inference_function (tf2onnx wants this, not a concrete one)."""
    model, specs = built.obj, input_specs(built)
    names = list(built.input_names)
    if built.kind == "module":  # wrapped too: the same one input `x`, one output, for all
        @tf.function(input_signature=specs)
        def serve(x):
            return model(x)
    elif len(specs) == 1:
        @tf.function(input_signature=specs)
        def serve(x):
            return model(x, training=False)
    else:
        @tf.function(input_signature=specs)
        def serve(*xs):
            return model(dict(zip(names, xs)), training=False)

    return serve


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def find_reference(constants: list[tuple[str, np.ndarray]],
                   reference: list[tuple[str, np.ndarray]] | None) -> dict:
    """Notes saying which reference parameters an artifact holds bit-exact (as is or
    transposed), and which it does not (folded, quantized or changed)."""
    if reference is None:
        return {}
    found, transposed, absent = [], [], []
    by_shape: dict[tuple, list[np.ndarray]] = {}
    for _, c in constants:
        by_shape.setdefault(tuple(sorted(c.shape)), []).append(np.asarray(c))
    for name, want in reference:
        candidates = by_shape.get(tuple(sorted(want.shape)), [])
        if any(_same(c, want) for c in candidates):
            found.append(name)
            continue
        perms = list(itertools.permutations(range(want.ndim)))[1:] if want.ndim <= 4 else []
        if any(_same(np.ascontiguousarray(np.transpose(c, p)), want)
               for c in candidates for p in perms if c.ndim == want.ndim):
            transposed.append(name)
            continue
        absent.append(name)
    return {"reference_params_in_artifact": f"{len(found) + len(transposed)}/{len(reference)} "
                                            "bit-identical (by value; names are the converter's)",
            "reference_params_transposed": len(transposed),
            "reference_params_not_found": absent[:12]}
