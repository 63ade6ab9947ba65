"""The reference models, built the same way under Keras 2 and Keras 3.

Every layer has an explicit name, so parameter names do not depend on how many models a process
built before (Keras' automatic `dense_3` numbering).  Weights come from fixed seeds, each model is
trained for two steps so optimizer state exists, and the prediction inputs are drawn with numpy's
legacy RandomState, whose stream is stable across numpy versions.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from .runtime import keras, tf

SEED = 1234
N_PREDICT = 8


@dataclass
class Built:
    name: str
    obj: object  # a keras.Model or a tf.Module
    inputs: np.ndarray  # the stored prediction inputs
    kind: str  # "keras" or "module"

    def predict(self, x: np.ndarray) -> list[np.ndarray]:
        from .runtime import outputs_list

        if self.kind == "module":
            return outputs_list(self.obj(tf.constant(x)))
        return outputs_list(self.obj(tf.constant(x), training=False))

    def params(self) -> list[tuple[str, np.ndarray]]:
        from .runtime import variables_params

        if self.kind == "module":
            return variables_params(self.obj.variables)
        params = variables_params(self.obj.weights)
        if self.name == "qat":
            # tfmot's per-wrapper `optimizer_step` is a training-step counter, not a parameter:
            # no inference signature captures it and a checkpoint holds bit-identical copies
            # of it that no key map can tell apart.
            params = [(n, v) for n, v in params if not n.split(":")[0].endswith("optimizer_step")]
        return params


@keras.utils.register_keras_serializable(package="tfh")
class ScaledDense(keras.layers.Layer):
    """A custom layer: loading it needs the class registered (or passed as custom_objects)."""

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
        return super().get_config() | {"units": self.units, "scale": self.scale}


@keras.utils.register_keras_serializable(package="tfh")
class CustomModel(keras.Model):
    """A subclassed model around the custom layer."""

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


class Affine(tf.Module):
    """A plain tf.Module with a tf.function signature, no Keras at all."""

    def __init__(self, rng: np.random.RandomState):
        super().__init__(name="affine")
        self.w = tf.Variable(rng.standard_normal((4, 3)).astype("float32"), name="w")
        self.b = tf.Variable(np.zeros(3, "float32"), name="b")

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def __call__(self, x):
        return tf.nn.relu(tf.matmul(x, self.w) + self.b)


def _mlp():
    x = keras.Input((784,), name="x")
    h = keras.layers.Dense(128, activation="relu", name="dense")(x)
    h = keras.layers.Dropout(0.2, name="dropout")(h)
    return keras.Model(x, keras.layers.Dense(10, name="logits")(h), name="mlp"), (784,), 10


def _cnn():
    x = keras.Input((16, 16, 3), name="x")
    h = keras.layers.Conv2D(8, 3, name="conv")(x)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU(name="relu")(h)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    return keras.Model(x, keras.layers.Dense(10, name="logits")(h), name="cnn"), (16, 16, 3), 10


def _rnn():
    x = keras.Input((12, 8), name="x")
    h = keras.layers.LSTM(16, name="lstm")(x)
    return keras.Model(x, keras.layers.Dense(4, name="head")(h), name="rnn"), (12, 8), 4


def _custom():
    return CustomModel(name="custom"), (20,), 3


def tfmot_or_reason():
    """tensorflow-model-optimization, or why it cannot run here (the reason `qat` is
    `unsupported`): it is built on Keras 2 (tf.keras up to TF 2.15, tf_keras after)."""
    from .runtime import KERAS_MAJOR, KERAS_VERSION, Unsupported

    if KERAS_MAJOR >= 3:
        raise Unsupported(f"tensorflow-model-optimization needs Keras 2 (tf.keras up to TF 2.15, "
                          f"tf_keras with TF_USE_LEGACY_KERAS=1 after); this environment's "
                          f"tf.keras is Keras {KERAS_VERSION}")
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError as exc:
        raise Unsupported(f"tensorflow-model-optimization is not installed here ({exc})") \
            from None
    return tfmot


def _qat():
    """Quantization-aware training: fake-quant wrappers around a small MLP (tfmot)."""
    tfmot = tfmot_or_reason()
    x = keras.Input((20,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="dense")(x)
    base = keras.Model(x, keras.layers.Dense(3, name="logits")(h), name="qat")
    return tfmot.quantization.keras.quantize_model(base), (20,), 3


def _mirrored():
    """A small MLP whose variables are created (and trained) under MirroredStrategy on two
    logical CPUs: MirroredVariables, saved as users save them, outside the scope."""
    from .runtime import mirrored_strategy

    scope = contextlib.nullcontext() if tf.distribute.has_strategy() else \
        mirrored_strategy().scope()
    with scope:
        x = keras.Input((20,), name="x")
        h = keras.layers.Dense(16, activation="relu", name="dense")(x)
        model = keras.Model(x, keras.layers.Dense(3, name="logits")(h), name="mirrored")
        _compile(model)
    return model, (20,), 3


def _compile(model) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )


CUSTOM_OBJECTS = {"ScaledDense": ScaledDense, "CustomModel": CustomModel}

KERAS_BUILDERS = {"mlp": _mlp, "cnn": _cnn, "rnn": _rnn, "custom": _custom, "qat": _qat,
                  "mirrored": _mirrored}
MODELS = ("mlp", "cnn", "rnn", "custom", "module", "qat", "mirrored")


def build(name: str, train: bool = True, strategy=None) -> Built:
    """Build model `name`; with train=False, a fresh (untrained) one to load weights into;
    with `strategy`, its variables are created in that strategy's scope (entered here, after
    clear_session: clearing inside a scope breaks the scope's exit)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; the zoo has {', '.join(MODELS)}")
    clear_session()
    set_seeds(SEED)
    rng = np.random.RandomState(SEED)
    with strategy.scope() if strategy else contextlib.nullcontext():
        return _build(name, train, rng)


def _build(name: str, train: bool, rng: np.random.RandomState) -> Built:
    if name == "module":
        m = Affine(rng)
        inputs = rng.standard_normal((N_PREDICT, 4)).astype("float32")
        if train:
            _train_module(m, rng)
        return Built(name, m, inputs, "module")
    return _build_keras(name, train, rng)


def _build_keras(name: str, train: bool, rng: np.random.RandomState) -> Built:
    model, in_shape, classes = KERAS_BUILDERS[name]()
    if name != "mirrored":  # compiled inside its strategy's scope
        _compile(model)
    inputs = rng.standard_normal((N_PREDICT, *in_shape)).astype("float32")
    x_train = rng.standard_normal((32, *in_shape)).astype("float32")
    y_train = rng.randint(0, classes, size=(32,)).astype("int32")
    if train:  # two steps, so optimizer slots exist and BatchNorm statistics moved
        model.fit(x_train, y_train, batch_size=16, epochs=1, shuffle=False, verbose=0)
    else:  # build the variables (subclassed models have none until called)
        model(tf.constant(inputs[:1]), training=False)
    return Built(name, model, inputs, "keras")


def _train_module(m: Affine, rng: np.random.RandomState) -> None:
    x = tf.constant(rng.standard_normal((16, 4)).astype("float32"))
    for _ in range(2):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(m(x) - 1.0))
        for v, g in zip(m.trainable_variables, tape.gradient(loss, m.trainable_variables)):
            v.assign_sub(0.1 * g)


def set_seeds(seed: int) -> None:
    if hasattr(keras.utils, "set_random_seed"):  # TF >= 2.7
        keras.utils.set_random_seed(seed)
    else:
        import random

        random.seed(seed)
        np.random.seed(seed)
        tf.random.set_seed(seed)


def clear_session() -> None:
    """Forget Keras' global state: without it, automatic names grow with each model a process
    builds or loads (`lstm_cell_3`), and parameter names would depend on cell order."""
    keras.backend.clear_session()
