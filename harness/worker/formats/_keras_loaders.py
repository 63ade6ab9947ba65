"""keras.models.load_model as a user calls it, and its documented variants."""

from __future__ import annotations

import contextlib
import inspect

from .. import safety, zoo
from ..runtime import (
    KERAS_MAJOR,
    KERAS_VERSION,
    LoadContext,
    Loaded,
    file_kind,
    keras,
    mirrored_strategy,
)
from . import _user_calls


def _accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _keras3_h5_has_safe_mode() -> bool:
    """Keras 3 passes safe_mode on to its legacy h5 reader only in later releases."""
    try:
        from keras.src.legacy.saving import legacy_h5_format
    except ImportError:
        return False
    return _accepts(legacy_h5_format.load_model_from_hdf5, "safe_mode")


def safe_mode_gap(path) -> str | None:
    """Why Keras's safe mode does not cover this artifact here, or None where it does.

    keras.models.load_model takes safe_mode from Keras 2.12 on, but Keras 2 (2.12-2.15 and
    tf_keras) applies it only to the `.keras` zip, never to HDF5 (a `.keras` name included: TF
    2.12/2.13 write HDF5 there) or a SavedModel folder; Keras 3 covers the zip, and HDF5 only
    where its legacy reader takes the argument (Keras 3.15 does)."""
    kind = file_kind(path)
    what = {"directory": "SavedModel", "hdf5": "h5", "zip": ".keras zip"}.get(kind, kind)
    if not _accepts(keras.models.load_model, "safe_mode"):
        return f"not available in Keras {KERAS_VERSION}"
    if kind == "zip" and str(path).endswith(".keras"):
        return None
    if KERAS_MAJOR >= 3 and (kind == "directory" or
                             (kind == "hdf5" and _keras3_h5_has_safe_mode())):
        return None  # Keras 3 reads no Keras-2 SavedModel at all
    return f"not available in Keras {KERAS_VERSION} for {what}"


def safe_load_model(path, **kwargs):
    """keras.models.load_model with safe_mode on where Keras has it; where it has not, the
    config is checked for Lambda layers first.  Returns (model, notes)."""
    kind = file_kind(path)
    if kind == "zip":
        safety.check_h5_member(path)  # the zip's sizes, then its weights' declared sizes
    elif kind == "hdf5":
        safety.check_h5_file(path)
    elif kind == "directory":
        safety.refuse_graph_ops(path)
    gap = safe_mode_gap(path)
    if gap is not None:
        safety.refuse_lambda_layers(path, f"safe_mode is {gap}")
    if _accepts(keras.models.load_model, "safe_mode"):
        kwargs.setdefault("safe_mode", not safety.UNSAFE)
    if safety.UNSAFE:
        note = "off (--unsafe)"
    else:
        note = True if gap is None else f"{gap} (config checked: no Lambda layer)"
    return keras.models.load_model(str(path), **kwargs), {"safe_mode": note}


# model.predict, weights, state and the resume step: _user_calls.py
loaded_keras_model = _user_calls.loaded_keras_model


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
        users = _user_calls.user_custom_objects(ctx)  # the artifact's --custom-objects file
        if users:
            kwargs["custom_objects"] = users | dict(kwargs.get("custom_objects") or {})
            notes["users_custom_objects"] = sorted(users)
        with scope, _user_calls.users_code():
            model, safe = safe_load_model(path_of(ctx), **kwargs)
        return loaded_keras_model(model, ctx, **notes, **safe)

    def default(ctx: LoadContext) -> Loaded:
        return load(ctx)

    def no_compile(ctx: LoadContext) -> Loaded:
        return load(ctx, compile=False)

    def under_strategy(ctx: LoadContext) -> Loaded:
        # Vice versa of the `mirrored` model: any model loaded into MirroredVariables.
        with mirrored_strategy().scope():
            return load(ctx)

    return {
        "keras.models.load_model[MirroredStrategy]": under_strategy,
        "keras.models.load_model": default,
        "keras.models.load_model[compile=False]": no_compile,
        **_user_calls.custom_code_loaders(load),
    }
