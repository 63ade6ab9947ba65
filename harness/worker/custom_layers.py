"""The zoo's custom code, as a user's project has it: one module, imported by the code that
builds (or deliberately loads) a model with custom classes, and by nothing else.

Importing it registers two classes (`@register_keras_serializable(package="tfh")`: saved under
the names `tfh>ScaledDense` and `tfh>CustomModel`); `PlainScaledDense` is merely defined, as most
user code defines its layers.  The worker imports this module lazily (zoo.custom_module()), so
the loaders that must run where nothing is registered can hide it (formats/_custom_code.py).
"""

from __future__ import annotations

from .runtime import keras, tf

PACKAGE = "tfh"


class _ScaledDenseBase(keras.layers.Layer):
    """scale * (x @ kernel + bias)."""

    def __init__(self, units: int, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.scale = scale

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=(int(input_shape[-1]), self.units), initializer="glorot_uniform"
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        super().build(input_shape)

    def call(self, x):
        return self.scale * (tf.matmul(x, self.kernel) + self.bias)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "scale": self.scale}


@keras.utils.register_keras_serializable(package=PACKAGE)
class ScaledDense(_ScaledDenseBase):
    """A registered custom layer: loading it needs this module imported, or the class passed
    as custom_objects under its registered name."""


@keras.utils.register_keras_serializable(package=PACKAGE)
class CustomModel(keras.Model):
    """A registered subclassed model around the registered custom layer."""

    def __init__(self, units: int = 16, classes: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.units, self.classes = units, classes
        self.block = ScaledDense(units, scale=0.5, name="scaled_dense")
        self.head = keras.layers.Dense(classes, name="head")

    def call(self, x, training=False):
        return self.head(tf.nn.relu(self.block(x)))

    def get_config(self):
        return {"units": self.units, "classes": self.classes, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


class PlainScaledDense(_ScaledDenseBase):
    """An unregistered custom layer, as most user code writes one: saved under its class name;
    a loader finds it only in custom_objects (or, where Keras imports a config's module, there)."""


REGISTERED = (ScaledDense, CustomModel)
UNREGISTERED = (PlainScaledDense,)


def by_class_name() -> dict:
    """custom_objects as most code passes them: every custom class keyed by its class name."""
    return {c.__name__: c for c in REGISTERED + UNREGISTERED}


def by_registered_name() -> dict:
    """custom_objects keyed by the name each class is saved under (`tfh>CustomModel` for a
    registered class, the class name for an unregistered one)."""
    return {keras.utils.get_registered_name(c): c for c in REGISTERED + UNREGISTERED}
