"""keras.models.load_model as a user calls it, and its documented variants."""

from __future__ import annotations

from .. import zoo
from ..runtime import LoadContext, Loaded, keras, outputs_list, tf, variables_params


def loaded_keras_model(model, ctx: LoadContext, **notes) -> Loaded:
    x = tf.constant(ctx.inputs)
    if isinstance(model, keras.Model):
        outputs, variables = model(x, training=False), model.weights
    else:  # Keras 2 hands back a plain restored object for a non-Keras SavedModel
        outputs, variables = model(x), model.variables
    return Loaded(outputs_list(outputs), variables_params(variables),
                  {"loaded_class": type(model).__name__, **notes})


def load_model_loaders(path_of):
    """Loaders for a format whose artifact path is `path_of(ctx)`."""

    def default(ctx: LoadContext) -> Loaded:
        return loaded_keras_model(keras.models.load_model(str(path_of(ctx))), ctx)

    def no_compile(ctx: LoadContext) -> Loaded:
        return loaded_keras_model(keras.models.load_model(str(path_of(ctx)), compile=False), ctx)

    def with_custom_objects(ctx: LoadContext) -> Loaded:
        # The documented way to load custom classes without relying on registration.
        model = keras.models.load_model(str(path_of(ctx)), custom_objects=zoo.CUSTOM_OBJECTS)
        return loaded_keras_model(model, ctx)

    return {
        "keras.models.load_model": default,
        "keras.models.load_model[compile=False]": no_compile,
        "keras.models.load_model[custom_objects]": with_custom_objects,
    }
