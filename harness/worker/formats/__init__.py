"""One module per format: `NAME`, `unsupported_reason(built)`, `save(built, dir)`, `LOADERS`."""

from __future__ import annotations

from . import h5, keras_file, savedmodel, tf_checkpoint, weights_h5

FORMATS = {m.NAME: m for m in (savedmodel, keras_file, h5, weights_h5, tf_checkpoint)}
