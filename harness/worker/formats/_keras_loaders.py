"""keras.models.load_model as a user calls it, and its documented variants."""

from __future__ import annotations

import contextlib

from .. import zoo
from ..runtime import (
    LoadContext,
    Loaded,
    keras,
    mirrored_strategy,
    outputs_list,
    tf,
    variables_params,
)


def loaded_keras_model(model, ctx: LoadContext, **notes) -> Loaded:
    x = tf.constant(ctx.inputs)
    if isinstance(model, keras.Model):
        outputs, variables = model(x, training=False), model.weights
        notes = {"trainable_variables": len(model.trainable_variables),
                 "non_trainable_variables": len(model.non_trainable_variables),
                 "count_params": int(model.count_params()), **notes}
    else:  # Keras 2 hands back a plain restored object for a non-Keras SavedModel
        outputs, variables = model(x), model.variables
    return Loaded(outputs_list(outputs), variables_params(variables),
                  {"loaded_class": type(model).__name__, **notes})


def model_scope(ctx: LoadContext):
    """What a user wraps load_model in for this model: a QAT model needs tfmot's
    quantize_scope() (its wrapper layers are not registered otherwise).  Where tfmot cannot be
    imported the load is still tried, without it, and the cell says so."""
    if ctx.model != "qat":
        return contextlib.nullcontext(), {}
    try:
        tfmot = zoo.tfmot_or_reason()
    except Exception as exc:
        return contextlib.nullcontext(), {"quantize_scope": f"not used: {exc}"}
    return tfmot.quantization.keras.quantize_scope(), {"quantize_scope": "used"}


def load_model_loaders(path_of):
    """Loaders for a format whose artifact path is `path_of(ctx)`."""

    def load(ctx: LoadContext, **kwargs) -> Loaded:
        scope, notes = model_scope(ctx)
        with scope:
            model = keras.models.load_model(str(path_of(ctx)), **kwargs)
        return loaded_keras_model(model, ctx, **notes)

    def default(ctx: LoadContext) -> Loaded:
        return load(ctx)

    def no_compile(ctx: LoadContext) -> Loaded:
        return load(ctx, compile=False)

    def with_custom_objects(ctx: LoadContext) -> Loaded:
        # The documented way to load custom classes without relying on registration.
        return load(ctx, custom_objects=zoo.CUSTOM_OBJECTS)

    def under_strategy(ctx: LoadContext) -> Loaded:
        # Vice versa of the `mirrored` model: any model loaded into MirroredVariables.
        with mirrored_strategy().scope():
            return load(ctx)

    return {
        "keras.models.load_model[MirroredStrategy]": under_strategy,
        "keras.models.load_model": default,
        "keras.models.load_model[compile=False]": no_compile,
        "keras.models.load_model[custom_objects]": with_custom_objects,
    }
