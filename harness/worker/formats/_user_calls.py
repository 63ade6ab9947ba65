"""keras.models.load_model's model as users use it, and custom code as users have it.

- A loaded Keras model predicts with `model.predict(x)` (numpy in, as users pass it), reports its
  weights and its state beyond them (vocabularies), and, when it came back with an optimizer,
  takes the resume step (resume.py).
- Custom code: the default loader runs where the zoo's custom module is imported (registered
  classes registered, unregistered ones merely defined), as in the user's own process.  Three
  variants run where it is not: `[custom_objects]` passes the classes keyed by class name (what
  most code does), `[custom_objects=registered]` keyed by the name each was saved under
  (`tfh>CustomModel`), `[no_custom_code]` passes nothing (a serving process).

A worker process cannot un-import a module, so `without_custom_code()` makes the process look
as if it never had imported it, for the duration of the load: the classes leave Keras's global
registry (both the name -> class and the class -> name tables), the module leaves sys.modules
and its package, and an import hook refuses it (Keras 2.13-2.15 import a config's `module` when
a class is not registered).  Everything is put back afterwards.  tests/test_user_calls.py checks
that this gives the same cells as a fresh worker that never imported the module.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import inspect
import sys

from .. import layers, resume, zoo
from ..runtime import (
    LoadContext,
    Loaded,
    keras,
    outputs_list,
    state_params,
    variables_params,
)

CUSTOM_MODULE = f"{zoo.__package__}.custom_layers"


def loaded_keras_model(model, ctx: LoadContext, **notes) -> Loaded:
    if not isinstance(model, keras.Model):  # Keras 2 hands back a plain restored object
        outputs, variables = model(ctx.feed()), model.variables  # for a non-Keras SavedModel
        return Loaded(outputs_list(outputs), variables_params(variables),
                      {"loaded_class": type(model).__name__, **notes})
    outputs = outputs_list(model.predict(ctx.predict_input(), verbose=0))
    notes = {"loaded_class": type(model).__name__, "predict": "model.predict(x)",
             "trainable_variables": len(model.trainable_variables),
             "non_trainable_variables": len(model.non_trainable_variables),
             "count_params": int(model.count_params()), **_policy(model), **notes}
    params = variables_params(model.weights) + state_params(model)
    per_layer = layers.record(model, ctx.predict_input(), predict=True,  # before the step
                              outputs=outputs, reference=ctx.ref_outputs)
    resumed, info = resume.on_load(model, ctx.input_names, ctx.resume_batch)
    return Loaded(outputs, params, notes, resumed, info, exposes_state=True,
                  layer_outputs=per_layer)


def _policy(model) -> dict:
    policy = getattr(model, "dtype_policy", None)
    name = getattr(policy, "name", None)
    return {} if name is None else {"dtype_policy": str(name)}


class _Refuse(importlib.abc.MetaPathFinder):
    """An import hook that makes one module not importable, as in a process without it."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _registry_tables() -> tuple[dict, dict | None]:
    """Keras's global custom-object tables: registered name -> class, class -> name."""
    objects = keras.utils.get_custom_objects()  # the live global dict, Keras 2 and 3
    module = sys.modules[keras.utils.get_custom_objects.__module__]
    names = getattr(module, "GLOBAL_CUSTOM_NAMES", None)  # Keras 3
    if names is None:
        names = getattr(module, "_GLOBAL_CUSTOM_NAMES", None)  # Keras 2
    return objects, names


@contextlib.contextmanager
def without_custom_code():
    """Inside: the zoo's custom classes are neither registered nor importable."""
    module = sys.modules.get(CUSTOM_MODULE)
    objects, names = _registry_tables()
    classes = set() if module is None else set(module.REGISTERED + module.UNREGISTERED)
    gone_objects = {k: v for k, v in objects.items() if v in classes}
    gone_names = {} if names is None else {c: n for c, n in names.items() if c in classes}
    for k in gone_objects:
        del objects[k]
    for c in gone_names:
        del names[c]
    package = sys.modules.get(zoo.__package__)
    had_attr = package is not None and hasattr(package, "custom_layers")
    if module is not None:
        del sys.modules[CUSTOM_MODULE]
        if had_attr:
            delattr(package, "custom_layers")
    refuse = _Refuse(CUSTOM_MODULE)
    sys.meta_path.insert(0, refuse)
    try:
        yield
    finally:
        sys.meta_path.remove(refuse)
        if module is not None:
            sys.modules[CUSTOM_MODULE] = module
            if had_attr:
                package.custom_layers = module
        objects.update(gone_objects)
        if names is not None:
            names.update(gone_names)


@contextlib.contextmanager
def users_code():
    """The user's own process: their custom module imported (registering what it registers),
    unless a variant above hides it for this load."""
    if not any(isinstance(f, _Refuse) for f in sys.meta_path):
        zoo.custom_module()
    yield


def custom_code_loaders(load) -> dict:
    """The custom-code variants of keras.models.load_model, for `load(ctx, **kwargs)` (the
    format's load_model call)."""

    def with_custom_objects(keyed_by: str):
        def loader(ctx: LoadContext) -> Loaded:
            layers = zoo.custom_module()
            objects = layers.by_class_name() if keyed_by == "class name" else \
                layers.by_registered_name()
            with without_custom_code():
                loaded = load(ctx, custom_objects=objects)
            loaded.notes["custom_objects"] = f"{sorted(objects)} (keyed by {keyed_by}; " \
                                             "nothing registered)"
            return loaded
        return loader

    def no_custom_code(ctx: LoadContext) -> Loaded:
        with without_custom_code():
            loaded = load(ctx)
        loaded.notes["custom_code"] = "none imported or registered"
        return loaded

    return {
        "keras.models.load_model[custom_objects]": with_custom_objects("class name"),
        "keras.models.load_model[custom_objects=registered]":
            with_custom_objects("registered name"),
        "keras.models.load_model[no_custom_code]": no_custom_code,
    }


_user_modules: dict = {}


def user_module(ctx: LoadContext):
    """The user's `--custom-objects FILE.py` as a module (run once per worker), or None when
    they gave none."""
    name = (ctx.manifest or {}).get("custom_objects")
    if not name:
        return None
    path = (ctx.artifact / name).resolve()
    if path not in _user_modules:
        spec = importlib.util.spec_from_file_location(f"tfh_user_objects_{len(_user_modules)}",
                                                      path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _user_modules[path] = module
    return _user_modules[path]


def user_architecture(ctx: LoadContext):
    """A fresh model from the user's `build_model()` (the architecture a weights file needs),
    or None when their file defines none."""
    module = user_module(ctx)
    build = getattr(module, "build_model", None) if module is not None else None
    return build() if callable(build) else None


def user_custom_objects(ctx: LoadContext) -> dict:
    """The user's own custom code, for an artifact that came with it (`--custom-objects
    FILE.py`, copied beside the artifact and named by its manifest): every Keras layer, model,
    loss and metric class and every function the file defines, keyed by name, as the user's
    `load_model(path, custom_objects=...)` would pass them.  Nothing of the user's runs unless
    they gave the file."""
    module = user_module(ctx)
    if module is None:
        return {}
    declared = getattr(module, "custom_objects", None)
    if isinstance(declared, dict):  # the file says what to pass, as a user's code would
        return dict(declared)
    bases = tuple(b for b in (getattr(keras.layers, "Layer", None), getattr(keras, "Model", None),
                              getattr(keras.losses, "Loss", None),
                              getattr(keras.metrics, "Metric", None)) if b is not None)
    found = {}
    for key, value in vars(module).items():
        if key.startswith("_"):
            continue
        if inspect.isclass(value) and issubclass(value, bases):
            found[key] = value
        elif inspect.isfunction(value) and value.__module__ == module.__name__:
            found[key] = value
    return found
