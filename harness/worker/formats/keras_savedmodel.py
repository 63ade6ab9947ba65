"""`keras-savedmodel`: the SavedModel Keras writes itself.  Keras 2: model.save(dir) (the "tf"
save format, with Keras metadata that load_model uses); Keras 3: model.export(dir), an
inference-only SavedModel (Keras 3 no longer writes the Keras-2 kind at all)."""

from __future__ import annotations

from ..runtime import KERAS_MAJOR, require_keras_model, tf
from .savedmodel import saved_model_loaders, signature_info

NAME = "keras-savedmodel"
DIRNAME = "keras_savedmodel"


def unsupported_reason(built) -> str | None:
    return require_keras_model(built)


def save(built, art) -> dict:
    path = art / DIRNAME
    if KERAS_MAJOR >= 3:
        built.obj.export(str(path))
        how = "model.export(dir)"
    else:
        built.obj.save(str(path), save_format="tf")
        how = "model.save(dir, save_format='tf')"
    loaded = tf.saved_model.load(str(path))
    sigs = {k: signature_info(f) for k, f in loaded.signatures.items()}
    return {"on_disk_format": "savedmodel-directory", "entry": DIRNAME, "signatures": sigs,
            "written_by": how}


LOADERS = saved_model_loaders(DIRNAME)
