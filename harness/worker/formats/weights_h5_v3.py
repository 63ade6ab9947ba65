"""`weights-h5-v3`: model.save_weights("model.weights.h5") (see weights_h5.py)."""

from __future__ import annotations

from . import weights_h5

NAME = "weights-h5-v3"
FILENAME = "model.weights.h5"  # Keras 3 insists on this suffix; Keras 2.12+ writes HDF5 too

unsupported_reason = weights_h5.unsupported_reason
save = weights_h5.saver(FILENAME)
LOADERS = weights_h5.loaders(FILENAME)
