"""The reference models, built the same way under Keras 2 and Keras 3.

Every layer has an explicit name, so parameter names do not depend on how many models a process
built before (Keras' automatic `dense_3` numbering); `seq` is the exception, built exactly as
the tutorial builds it (automatic layer names, which clear_session() makes deterministic).
Weights come from fixed seeds, each model is trained for two steps so optimizer state exists,
and the inputs are drawn with numpy's legacy RandomState, whose stream is stable across numpy
versions.  A model has one or more named inputs (`Built.inputs`, in the model's input order) and
one or more outputs (a dict output is listed in sorted key order everywhere).

State that is not a weight is a parameter too: the vocabulary of a lookup layer
(`<layer>/vocabulary`, a numpy unicode array), so that a loader that loses it is a mismatch.
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass, field

import numpy as np

from .runtime import keras, outputs_list, state_params, tf, variables_params

SEED = 1234
N_PREDICT = 8
N_TRAIN = 32
N_RESUME = 16


@dataclass
class Built:
    name: str
    obj: object  # a keras.Model or a tf.Module
    inputs: list  # the stored prediction inputs, one array per model input
    kind: str  # "keras" or "module"
    input_names: list = field(default_factory=lambda: ["x"])
    # The batch of the resume check (one optimizer step after saving / after loading):
    # (inputs as a list like `inputs`, labels: an array, or a dict by output name).
    resume_batch: tuple | None = None

    def feed(self, arrays: list):
        """What the model is called with: one tensor, or a dict by input name."""
        return feed(self.input_names, arrays)

    def predict(self, arrays: list) -> list[np.ndarray]:
        if self.kind == "module":
            return outputs_list(self.obj(self.feed(arrays)))
        return outputs_list(self.obj(self.feed(arrays), training=False))

    def params(self) -> list[tuple[str, np.ndarray]]:
        if self.kind == "module":
            return variables_params(self.obj.variables)
        params = variables_params(self.obj.weights)
        if self.name == "qat":
            # tfmot's per-wrapper `optimizer_step` is a training-step counter, not a parameter:
            # no inference signature captures it and a checkpoint holds bit-identical copies
            # of it that no key map can tell apart.
            params = [(n, v) for n, v in params if not n.split(":")[0].endswith("optimizer_step")]
        return params + state_params(self.obj)

    def input_specs(self) -> list:
        """One tf.TensorSpec per input (batch dimension None), named after the input."""
        return [tf.TensorSpec([None, *a.shape[1:]], tf.as_dtype(_tf_dtype(a)), name=n)
                for n, a in zip(self.input_names, self.inputs)]


def _tf_dtype(a: np.ndarray):
    return tf.string if a.dtype.kind in "US" else a.dtype


def feed(names: list, arrays: list):
    tensors = [tf.constant(a) for a in arrays]
    if len(tensors) == 1:
        return tensors[0]
    return dict(zip(names, tensors))


def fit_input(names: list, arrays: list):
    """What fit()/predict() get, as users pass them: numpy arrays (one, or a dict by input
    name); strings as a tf.string tensor (Keras 3's array adapters reject numpy strings)."""
    arrays = [tf.constant(a) if a.dtype.kind in "US" else a for a in arrays]
    return arrays[0] if len(arrays) == 1 else dict(zip(names, arrays))


def custom_module():
    """The zoo's custom code (registers its classes on first import): imported only by what
    builds or deliberately loads a model with custom classes."""
    return importlib.import_module(__package__ + ".custom_layers")


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
    return custom_module().CustomModel(name="custom"), (20,), 3


def _custom_fn():
    """A functional model around an unregistered custom layer, as most user code has one."""
    layers = custom_module()
    x = keras.Input((20,), name="x")
    h = layers.PlainScaledDense(16, scale=0.5, name="plain_scaled_dense")(x)
    # Activation, not the ReLU layer: Keras 2.12 cannot read back its own ReLU config from a
    # `.keras` zip (numpy scalars in it), which would hide what this model is here for.
    h = keras.layers.Activation("relu", name="relu")(h)
    return keras.Model(x, keras.layers.Dense(3, name="head")(h), name="custom_fn"), (20,), 3


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


# Models of one float input `x` and integer class labels: builder() -> (model, shape, classes).
KERAS_BUILDERS = {"mlp": _mlp, "cnn": _cnn, "rnn": _rnn, "custom": _custom, "qat": _qat,
                  "mirrored": _mirrored, "custom_fn": _custom_fn}


@dataclass
class Recipe:
    """A model with its own inputs and labels (models beyond one float input)."""

    model: object
    inputs: list  # prediction inputs, one array per model input, in input order
    input_names: list
    x_train: list
    y_train: object  # an array, or a dict by output name
    x_resume: list
    y_resume: object


def _seq(rng, adapt: bool) -> Recipe:
    """The tutorial model, word for word: a Sequential compiled with string names."""
    model = keras.Sequential([
        keras.layers.Dense(128, activation="relu", input_shape=(784,)),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ], name="seq")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x, xt, xr = (rng.standard_normal((n, 784)).astype("float32")
                 for n in (N_PREDICT, N_TRAIN, N_RESUME))
    return Recipe(model, [x], ["x"], [xt], rng.randint(0, 10, N_TRAIN).astype("int32"),
                  [xr], rng.randint(0, 10, N_RESUME).astype("int32"))


N_IDS, VOCAB_IDS = 4, 50


def _multi_io(rng, adapt: bool) -> Recipe:
    """Two named inputs (float features, int ids through an Embedding), two named outputs."""
    features = keras.Input((8,), name="features")
    ids = keras.Input((N_IDS,), dtype="int32", name="ids")
    e = keras.layers.Embedding(VOCAB_IDS, 4, name="embed")(ids)
    e = keras.layers.GlobalAveragePooling1D(name="pool")(e)
    h = keras.layers.Concatenate(name="concat")([features, e])
    h = keras.layers.Dense(16, activation="relu", name="trunk")(h)
    outputs = {"class_logits": keras.layers.Dense(3, name="class_logits")(h),
               "score": keras.layers.Dense(1, name="score")(h)}
    model = keras.Model({"features": features, "ids": ids}, outputs, name="multi_io")
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss={"class_logits": keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True), "score": keras.losses.MeanSquaredError()})

    def xs(n):
        return [rng.standard_normal((n, 8)).astype("float32"),
                rng.randint(0, VOCAB_IDS, (n, N_IDS)).astype("int32")]

    def ys(n):
        return {"class_logits": rng.randint(0, 3, n).astype("int32"),
                "score": rng.standard_normal((n, 1)).astype("float32")}

    x = xs(N_PREDICT)
    xt, yt = xs(N_TRAIN), ys(N_TRAIN)
    xr, yr = xs(N_RESUME), ys(N_RESUME)
    return Recipe(model, x, ["features", "ids"], xt, yt, xr, yr)


WORDS = ("the cat dog sat on mat a red blue fish ran far tree under over green small big "
         "bird sang").split()


def _sentences(rng, n: int) -> np.ndarray:
    out = [" ".join(WORDS[i] for i in rng.randint(0, len(WORDS), rng.randint(2, 7)))
           for _ in range(n)]
    return np.array(out, dtype=str).reshape(n, 1)  # numpy unicode: no pickle needed


def _text(rng, adapt: bool) -> Recipe:
    """Strings in: an adapted TextVectorization (its vocabulary is state), an Embedding."""
    corpus = _sentences(rng, 64)
    vectorize = keras.layers.TextVectorization(max_tokens=16, output_sequence_length=6,
                                               name="vectorize")
    if adapt:  # a model rebuilt to load weights into has no vocabulary but what it loads
        vectorize.adapt(corpus[:, 0])
    x = keras.Input((1,), dtype="string", name="text")
    h = keras.layers.Embedding(16, 8, name="embed")(vectorize(x))
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    model = keras.Model(x, keras.layers.Dense(2, name="logits")(h), name="text")
    _compile(model)
    return Recipe(model, [_sentences(rng, N_PREDICT)], ["text"], [_sentences(rng, N_TRAIN)],
                  rng.randint(0, 2, N_TRAIN).astype("int32"), [_sentences(rng, N_RESUME)],
                  rng.randint(0, 2, N_RESUME).astype("int32"))


def _norm(rng, adapt: bool) -> Recipe:
    """An adapted Normalization layer: its mean and variance are state."""
    data = (rng.standard_normal((64, 6)) * 3 + 5).astype("float32")
    norm = keras.layers.Normalization(name="norm")
    if adapt:
        norm.adapt(data)
    x = keras.Input((6,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="dense")(norm(x))
    model = keras.Model(x, keras.layers.Dense(3, name="logits")(h), name="norm")
    _compile(model)
    xs = [(rng.standard_normal((n, 6)) * 3 + 5).astype("float32")
          for n in (N_PREDICT, N_TRAIN, N_RESUME)]
    return Recipe(model, [xs[0]], ["x"], [xs[1]], rng.randint(0, 3, N_TRAIN).astype("int32"),
                  [xs[2]], rng.randint(0, 3, N_RESUME).astype("int32"))


def _mixed(rng, adapt: bool) -> Recipe:
    """Built under the `mixed_float16` policy, as the mixed-precision guide does it (float16
    outputs: compared with the float16 tolerance; a loader that loses the policy gives
    float32)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        x = keras.Input((16,), name="x")
        h = keras.layers.Dense(32, activation="relu", name="dense")(x)
        model = keras.Model(x, keras.layers.Dense(4, name="logits")(h), name="mixed")
        _compile(model)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    xs = [rng.standard_normal((n, 16)).astype("float32") for n in (N_PREDICT, N_TRAIN, N_RESUME)]
    return Recipe(model, [xs[0]], ["x"], [xs[1]], rng.randint(0, 4, N_TRAIN).astype("int32"),
                  [xs[2]], rng.randint(0, 4, N_RESUME).astype("int32"))


RECIPES = {"seq": _seq, "multi_io": _multi_io, "text": _text, "norm": _norm, "mixed": _mixed}

MODELS = ("mlp", "cnn", "rnn", "custom", "module", "qat", "mirrored",
          "seq", "multi_io", "text", "norm", "mixed", "custom_fn")
CUSTOM_CODE_MODELS = ("custom", "custom_fn")


def build(name: str, train: bool = True, strategy=None) -> Built:
    """Build model `name`; with train=False, a fresh (untrained, unadapted) one to load
    weights into; with `strategy`, its variables are created in that strategy's scope (entered
    here, after clear_session: clearing inside a scope breaks the scope's exit)."""
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
        return Built(name, m, [inputs], "module")
    if name in RECIPES:
        r = RECIPES[name](rng, train)
        return _finish(Built(name, r.model, r.inputs, "keras", r.input_names,
                             (r.x_resume, r.y_resume)), train, r.x_train, r.y_train)
    return _build_keras(name, train, rng)


def _build_keras(name: str, train: bool, rng: np.random.RandomState) -> Built:
    model, in_shape, classes = KERAS_BUILDERS[name]()
    if name != "mirrored":  # compiled inside its strategy's scope
        _compile(model)
    inputs = rng.standard_normal((N_PREDICT, *in_shape)).astype("float32")
    x_train = rng.standard_normal((N_TRAIN, *in_shape)).astype("float32")
    y_train = rng.randint(0, classes, size=(N_TRAIN,)).astype("int32")
    # drawn after the others: the stored inputs and weights stay what they were before
    x_resume = rng.standard_normal((N_RESUME, *in_shape)).astype("float32")
    y_resume = rng.randint(0, classes, size=(N_RESUME,)).astype("int32")
    built = Built(name, model, [inputs], "keras", ["x"], ([x_resume], y_resume))
    return _finish(built, train, [x_train], y_train)


def _finish(built: Built, train: bool, x_train: list, y_train) -> Built:
    model = built.obj
    if train:  # two steps, so optimizer slots exist and BatchNorm statistics moved
        x = fit_input(built.input_names, x_train)
        model.fit(x, y_train, batch_size=16, epochs=1, shuffle=False, verbose=0)
    elif not model.built:  # a subclassed model has no variables until called
        model(built.feed([a[:1] for a in built.inputs]), training=False)
    return built


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
    builds or loads (`lstm_cell_3`), and parameter names would depend on cell order.  Keras 3
    also runs a full garbage collection by default, 0.1-0.2 s per cell here (a third of a
    Keras 3 cell), which its docs advise skipping in a loop: Python's own collector and the
    worker's recycling after --batch-size cells bound the memory instead."""
    try:
        keras.backend.clear_session(free_memory=False)
    except TypeError:  # Keras 2 (and Keras 3 before 3.4) has no such argument, and no collection
        keras.backend.clear_session()
