"""Migrate phase: one step of a migration route (harness/migrate/routes.py), run in the
environment the route names for it (the producer's, the target's, or the target's legacy Keras).

A request: `{"id", "route", "step", "artifact", "format", "model", "zoo", "out_dir", "handoff",
"inputs", "custom_objects"}`.  `artifact` is the staged original (a folder with its
`manifest.json`, as the loaders see it); `handoff` the previous step's `out_dir`.  Steps:

- `export`: load the original as a Keras model (compile=False) and write what both sides read:
  a legacy HDF5 full model without optimizer (`handoff.h5`) for a Functional or Sequential
  model, else its config (`config.json`) and legacy HDF5 weights (`weights.h5`).
- `save-keras`: in the target: the hand-off (or, without one, the original itself, loaded
  with the documented workarounds) rebuilt and saved as `model.keras`.
- `export-savedmodel`: a SavedModel with an explicit `serving_default` signature
  (`savedmodel/`); where no Keras model can be had, the loaded SavedModel re-saved with its own
  signatures.

The library's own exception fails the step (`error`, its type and message); nothing is faked.
Stdlib, numpy and TF only (Python 3.9).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import tempfile
from pathlib import Path

from . import safety, zoo
from .files import error_fields
from .formats._keras_loaders import safe_load_model
from .runtime import KERAS_VERSION, file_kind, keras, tf

HANDOFF_H5 = "handoff.h5"
HANDOFF_CONFIG = "config.json"
HANDOFF_WEIGHTS = "weights.h5"
HANDOFF_META = "handoff.json"
KERAS_OUT = "model.keras"
SAVEDMODEL_OUT = "savedmodel"
CHECKPOINT_FORMATS = ("weights-tf", "tf-checkpoint")
WEIGHT_FORMATS = ("weights-h5", "weights-h5-v3") + CHECKPOINT_FORMATS
SAVEDMODEL_FORMATS = ("savedmodel", "keras-savedmodel")


def run_migrate(req: dict, out: Path) -> dict:
    dest = Path(req["out_dir"])
    dest.mkdir(parents=True, exist_ok=True)
    zoo.clear_session()
    notes: dict = {"keras": KERAS_VERSION, "tf": tf.__version__}
    try:
        if req["step"] == "export":
            written = _export(req, dest, notes)
        elif req["step"] == "save-keras":
            written = _save_keras(req, dest, notes)
        elif req["step"] == "export-savedmodel":
            written = _export_savedmodel(req, dest, notes)
        elif req["step"] == "reference":
            written = _reference(req, dest, notes)
        else:
            return {"status": "error", "error_type": "ValueError",
                    "error": f"no migration step {req['step']!r}"}
    except Exception as exc:
        return {"status": "error", "notes": notes} | error_fields(exc)
    return {"status": "ok", "written": written, "notes": notes}


# -- the user's code and the zoo's ------------------------------------------------------------
def _user_module(req: dict):
    path = req.get("custom_objects")
    if not path:
        return None
    spec = importlib.util.spec_from_file_location("tfh_user_custom_objects", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def custom_objects(req: dict) -> dict:
    """The user's classes (a `custom_objects` dict in their file, else every class and function
    it defines, by name), or the zoo's custom classes for a zoo model that has them."""
    module = _user_module(req)
    if module is not None:
        given = getattr(module, "custom_objects", None)
        if isinstance(given, dict):
            return dict(given)
        return {k: v for k, v in vars(module).items()
                if not k.startswith("_") and callable(v)
                and getattr(v, "__module__", None) == module.__name__ and k != "build_model"}
    if req.get("zoo") and req.get("model") in zoo.CUSTOM_CODE_MODELS:
        return zoo.custom_module().by_class_name()
    return {}


def _rebuilt(req: dict):
    """The architecture a weights file needs: the zoo's code, or the user's `build_model()`."""
    module = _user_module(req)
    if module is not None and callable(getattr(module, "build_model", None)):
        return module.build_model()
    if req.get("zoo"):
        return zoo.build(req["model"], train=False).obj
    raise ValueError("a weights file holds no architecture: give --custom-objects FILE.py "
                     "defining build_model()")


def _uncompiled(model, objects: dict, inputs: list):
    """The same architecture without the optimizer that code compiles it with: a weights file
    holds no optimizer, and a fresh one saved with the model would pass for the trained one's
    (the proof's resume check sees through it: "lost its optimizer state")."""
    if getattr(model, "optimizer", None) is None:
        return model
    fresh = type(model).from_config(model.get_config(), custom_objects=objects or None)
    if not fresh.built:
        fresh(_feed_zeros(inputs or [{"shape": [None] + list(model.input_shape[1:])}]),
              training=False)
    return fresh


# -- the original, loaded ---------------------------------------------------------------------
def _entry(req: dict) -> Path:
    art = Path(req["artifact"])
    manifest = json.loads((art / "manifest.json").read_text())
    return art / manifest["entry"]


def load_original(req: dict, notes: dict):
    """The original as a Keras model, as a user loads it with the documented workarounds:
    compile=False, custom_objects, an HDF5 file read under its true `.h5` name."""
    fmt, path = req["format"], _entry(req)
    objects = custom_objects(req)
    if objects:
        notes["custom_objects"] = sorted(objects)
    if fmt in WEIGHT_FORMATS:
        model = _uncompiled(_rebuilt(req), objects, req.get("inputs") or [])
        if fmt in CHECKPOINT_FORMATS:
            notes["loaded"] = "architecture rebuilt from code, then " + _restore(model, path)
        else:
            model.load_weights(str(path))
            notes["loaded"] = "architecture rebuilt from code, then " \
                              f"model.load_weights({path.name!r})"
        return model
    kwargs = {"compile": False}
    if objects:
        kwargs["custom_objects"] = objects
    if file_kind(path) == "hdf5" and path.suffix != ".h5":
        tmp = Path(tempfile.mkdtemp(prefix="harness-migrate-")) / "model.h5"
        shutil.copy2(path, tmp)  # TF 2.12/2.13 wrote HDF5 under the `.keras` name
        notes["read_as"] = f"{path.name} is HDF5: read under the name model.h5"
        path = tmp
    model, safe = safe_load_model(path, **kwargs)
    notes["loaded"] = f"keras.models.load_model({path.name!r}, compile=False" + \
        (", custom_objects=...)" if objects else ")")
    notes["safe_mode"] = safe.get("safe_mode")
    return model


def _restore(model, prefix: Path) -> str:
    """A TF-format checkpoint into the rebuilt model: `model.load_weights(prefix)` (Keras 2's
    `save_weights("ckpt/weights")`), else `tf.train.Checkpoint(model=model)` (a checkpoint of
    `tf.train.Checkpoint(model=...)`); each must match every object of the model, so a restore
    that restores nothing fails here instead of saving fresh weights."""
    first = None
    try:
        status = model.load_weights(str(prefix))
        if status is None:  # Keras 3 returns nothing: it raised already where it cannot read
            return f"model.load_weights({prefix.name!r})"
        status.assert_existing_objects_matched()
        return f"model.load_weights({prefix.name!r})"
    except Exception as exc:
        first = exc
    try:
        tf.train.Checkpoint(model=model).restore(str(prefix)).assert_existing_objects_matched()
    except Exception as exc:
        # a variable's repr holds its values: the message keeps its name and shape only
        raise type(exc)(re.sub(r", value=[^>]*>", ">",
                               f"model.load_weights: {type(first).__name__}: {first}; "
                               f"tf.train.Checkpoint(model=model).restore: {exc}")) from None
    return f"tf.train.Checkpoint(model=model).restore({prefix.name!r})"


def optimizer_in_artifact(req: dict) -> str | None:
    """The optimizer the original holds, as far as its bytes say (None: none, or not known)."""
    path = _entry(req)
    try:
        if req["format"] in CHECKPOINT_FORMATS:
            keys = [k for k, _ in tf.train.list_variables(str(path))]
            held = [k for k in keys if k.startswith("optimizer/") or "/optimizer/" in k]
            return f"an optimizer ({len(held)} checkpoint keys under optimizer/)" if held \
                else None
        if file_kind(path) == "hdf5":
            import h5py

            with h5py.File(path, "r") as f:
                if "optimizer_weights" not in f:
                    return None
                cfg = json.loads(f.attrs.get("training_config") or "{}")
                name = (cfg.get("optimizer_config") or {}).get("class_name") or "an optimizer"
                return name.split(">")[-1]  # Keras 2.12 writes "Custom>Adam"
        if file_kind(path) == "zip":
            import zipfile

            with zipfile.ZipFile(path) as z:
                cfg = json.loads(z.read("config.json"))
            opt = (cfg.get("compile_config") or {}).get("optimizer")
            return (opt or {}).get("class_name") if isinstance(opt, dict) else opt
        if path.is_dir() and (path / "keras_metadata.pb").is_file():
            # the metadata holds the model's JSON, training_config among it where compiled
            found = re.search(rb'"optimizer_config": \{"class_name": "([^"]+)"',
                              (path / "keras_metadata.pb").read_bytes())
            return found.group(1).decode().split(">")[-1] if found else None
    except Exception:  # the report says "not known"
        return None
    return None


# -- steps ------------------------------------------------------------------------------------
def _is_graph_network(model) -> bool:
    return type(model).__name__ in ("Functional", "Sequential")


def _reference(req: dict, dest: Path, notes: dict) -> list:
    """What a checkpoint's reader cannot give: the outputs of the model the user's code builds
    with the checkpoint restored, on the reference's inputs, and that model's parameters by
    name (the host checks each against the checkpoint's own values)."""
    import numpy as np

    from .runtime import outputs_list, variables_params

    ref = Path(req["reference_dir"])
    meta = json.loads((ref / "reference.json").read_text())
    with np.load(ref / "reference.npz", allow_pickle=False) as z:
        xs = [z[f"x{i}"] for i in range(len(meta.get("inputs") or []))]
    if not xs:
        raise ValueError("the reference has no inputs to predict on: give --inputs X.npz")
    model = load_original(req, notes)
    names = [i["name"] for i in meta["inputs"]]
    feed = tf.constant(xs[0]) if len(xs) == 1 else \
        {n: tf.constant(x) for n, x in zip(names, xs)}
    ys = outputs_list(model(feed, training=False))
    params = variables_params(model.weights)
    arrays = {f"x{i}": x for i, x in enumerate(xs)}
    arrays.update({f"y{i}": y for i, y in enumerate(ys)})
    arrays.update({f"p{i}": v for i, (_, v) in enumerate(params)})
    np.savez(dest / "reference.npz", **arrays)
    meta = dict(meta, n_outputs=len(ys), param_names=[n for n, _ in params],
                outputs=[{"name": f"output_{i}", "dtype": str(y.dtype),
                          "shape": [None] + list(y.shape[1:])} for i, y in enumerate(ys)])
    (dest / "reference.json").write_text(json.dumps(meta))
    return ["reference.json", "reference.npz"]


def _export(req: dict, dest: Path, notes: dict) -> list:
    model = load_original(req, notes)
    meta = {"class_name": type(model).__name__, "keras": KERAS_VERSION,
            "optimizer_in_artifact": optimizer_in_artifact(req)}
    if _is_graph_network(model):
        model.save(str(dest / HANDOFF_H5), include_optimizer=False)
        written = [HANDOFF_H5]
        notes["handoff"] = "legacy HDF5 full model, model.save('handoff.h5', " \
                           "include_optimizer=False)"
    else:  # a subclassed model: HDF5 cannot hold it, its config and weights can
        (dest / HANDOFF_CONFIG).write_text(model.to_json())
        model.save_weights(str(dest / HANDOFF_WEIGHTS))
        written = [HANDOFF_CONFIG, HANDOFF_WEIGHTS]
        notes["handoff"] = "model.to_json() + model.save_weights('weights.h5') (legacy HDF5)"
    (dest / HANDOFF_META).write_text(json.dumps(meta))
    return written + [HANDOFF_META]


def _feed_zeros(inputs: list):
    arrays = [tf.zeros([1] + [d if d and d > 0 else 1 for d in (i.get("shape") or [None])[1:]],
                       dtype=i.get("dtype") or "float32") for i in inputs]
    if len(arrays) == 1:
        return arrays[0]
    return {i["name"]: a for i, a in zip(inputs, arrays)}


def _from_handoff(req: dict, notes: dict):
    hand = Path(req["handoff"])
    objects = custom_objects(req)
    if (hand / HANDOFF_H5).is_file():
        kwargs = {"compile": False}
        if objects:
            kwargs["custom_objects"] = objects
        model, _ = safe_load_model(hand / HANDOFF_H5, **kwargs)
        notes["rebuilt"] = "keras.models.load_model('handoff.h5', compile=False)"
        return model
    text = (hand / HANDOFF_CONFIG).read_text()
    if '"Lambda"' in text and not req.get("unsafe"):
        raise ValueError("the model holds a Lambda layer (code): refused without --unsafe")
    model = keras.models.model_from_json(text, custom_objects=objects or None)
    if not model.built:
        model(_feed_zeros(req.get("inputs") or []), training=False)
    model.load_weights(str(hand / HANDOFF_WEIGHTS))
    notes["rebuilt"] = "keras.models.model_from_json(config.json) + " \
                       "model.load_weights('weights.h5')"
    return model


def _save_keras(req: dict, dest: Path, notes: dict) -> list:
    model = _from_handoff(req, notes) if req.get("handoff") else load_original(req, notes)
    model.save(str(dest / KERAS_OUT))
    notes["saved"] = f"model.save('{KERAS_OUT}') under Keras {KERAS_VERSION}"
    notes["optimizer_in_artifact"] = _handoff_optimizer(req) if req.get("handoff") \
        else optimizer_in_artifact(req)
    return [KERAS_OUT]


def _handoff_optimizer(req: dict):
    meta = Path(req["handoff"]) / HANDOFF_META
    return json.loads(meta.read_text()).get("optimizer_in_artifact") if meta.is_file() else None


def _specs(inputs: list) -> list:
    return [tf.TensorSpec([None] + [d if d and d > 0 else None for d in (i.get("shape") or
                                                                          [None])[1:]],
                          tf.as_dtype(i.get("dtype") or "float32"), name=i.get("name") or "x")
            for i in inputs]


def _output_dict(model, y) -> dict:
    if isinstance(y, dict):
        return y
    names = list(getattr(model, "output_names", None) or [])
    ys = list(y) if isinstance(y, (list, tuple)) else [y]
    if len(names) != len(ys):
        names = [f"output_{i}" for i in range(len(ys))]
    return dict(zip(names, ys))


def _resave_signatures(obj, target: Path) -> None:
    """Only the signatures and the variables they capture: the rest of the object graph (a
    Keras 2 optimizer's slots among it) is what a newer TF may no longer restore (TF 2.16 on a
    TF 2.9 Keras SavedModel: "'_UserObject' object has no attribute 'add_slot'")."""
    signatures = dict(obj.signatures)
    if not signatures:
        raise ValueError("the SavedModel has no signatures to serve")
    root = tf.Module()
    captured: dict = {}
    for fn in signatures.values():
        for v in fn.variables:
            captured[id(v)] = v
    root.signature_variables = list(captured.values())
    tf.saved_model.save(root, str(target), signatures=signatures)


def _export_savedmodel(req: dict, dest: Path, notes: dict) -> list:
    target = dest / SAVEDMODEL_OUT
    inputs = req.get("inputs") or []
    try:
        model = load_original(req, notes)
    except Exception as exc:
        if req["format"] not in SAVEDMODEL_FORMATS or isinstance(exc, safety.UnsafeArtifact):
            raise
        # No Keras model to be had here (Keras 3 reads no Keras-2 SavedModel): the SavedModel's
        # signatures re-saved by this TF with their variables and nothing else.
        notes["keras_load"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        safety.refuse_graph_ops(_entry(req))
        _resave_signatures(tf.saved_model.load(str(_entry(req))), target)
        notes["exported"] = "tf.saved_model.load, then its signatures alone (with the " \
                            "variables they capture) re-saved by tf.saved_model.save"
        return [SAVEDMODEL_OUT]
    specs = _specs(inputs)
    names = [s.name for s in specs]
    if not specs:
        raise ValueError("the artifact's inputs are not known: give --inputs X.npz")

    def serve(*args):
        x = args[0] if len(args) == 1 else dict(zip(names, args))
        return _output_dict(model, model(x, training=False))

    fn = tf.function(serve, input_signature=specs)
    tf.saved_model.save(model, str(target), signatures={"serving_default": fn})
    shown = ", ".join(str(s) for s in specs)
    notes["exported"] = "tf.saved_model.save(model, signatures={'serving_default': " + \
        "tf.function(model, input_signature=[" + shown + "])})"
    notes["optimizer_in_artifact"] = optimizer_in_artifact(req)
    return [SAVEDMODEL_OUT]


__all__ = ["run_migrate"]
