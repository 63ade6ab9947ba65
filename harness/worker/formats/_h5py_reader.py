"""Parameters read straight out of the HDF5 bytes with h5py, independent of Keras: what is in
the file, whether or not this Keras can load it.  Works for Keras 2 full models and weight
files, Keras 3 `.weights.h5`, and the `model.weights.h5` inside a Keras 3 `.keras` zip."""

from __future__ import annotations

import io

import numpy as np

from ..runtime import LoadContext, Loaded, Unsupported
from ..safety import check_h5, read_member


def _text(x) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def read_params(f) -> tuple[list[tuple[str, np.ndarray]], str]:
    """(name, value) of every model weight in an open h5py.File, and the layout found."""
    root = f["model_weights"] if "model_weights" in f else f
    params = []
    if "layer_names" in root.attrs:  # Keras 2 (and Keras 3's legacy .h5): names are stored
        for layer in root.attrs["layer_names"]:
            g = root[_text(layer)]
            for wn in g.attrs.get("weight_names", []):
                value = np.asarray(g[_text(wn)][()])
                if value.dtype.kind in "OSU":  # Keras 2 keeps a lookup layer's vocabulary here
                    continue  # (state, not a weight: compared where a loader exposes state)
                params.append((_text(wn), value))
        return params, "keras2-hdf5 (weight_names)"
    # saving_lib files (Keras 3; Keras 2.12+ for `.weights.h5`): <path>/vars/<i>, the path being
    # layers/<layer>, _layer_checkpoint_dependencies/<layer> or a subclassed model's attribute
    # names; variables are named by position only.  Optimizer and metric state is not a weight.
    if "vars" in root or "layers" in root or "_layer_checkpoint_dependencies" in root:
        def visit(name, obj):
            if hasattr(obj, "shape") and name.split("/")[0] not in ("optimizer", "metrics") \
                    and obj.dtype.kind not in "OSU":  # a vocabulary is state, not a weight
                params.append((name.replace("/vars/", "/vars_"), np.asarray(obj[()])))
        root.visititems(visit)
        return _dedupe_within_layer(params), "saving_lib hdf5 (<path>/vars/<i>)"
    raise ValueError(f"no Keras weights layout in this HDF5 file (top level: {sorted(root)})")


def _dedupe_within_layer(params):
    """A wrapper layer (tfmot's QuantizeWrapper, Bidirectional...) is saved with its own vars and
    its inner layer's: the same array twice under one top-level layer.  Keep the first copy;
    twins in different layers (two zero biases) are different parameters and stay."""
    seen, out = set(), []
    for name, v in params:
        parts = name.split("/")
        layer = "/".join(parts[:2]) if parts[0] == "_layer_checkpoint_dependencies" or \
            parts[0] == "layers" else parts[0]
        key = (layer, v.dtype.str, v.shape, v.tobytes())
        if key in seen:
            continue
        seen.add(key)
        out.append((name, v))
    return out


def h5py_loader(path_of):
    def load(ctx: LoadContext) -> Loaded:
        try:
            import h5py
        except ImportError as exc:
            raise Unsupported(f"h5py is not installed here ({exc})") from None
        path = path_of(ctx)
        with open(path, "rb") as fh:
            is_zip = fh.read(4) == b"PK\x03\x04"
        notes = {"h5py": h5py.__version__}
        if is_zip:  # a Keras 3 .keras archive: the weights are an HDF5 file inside it
            blob = read_member(path, "model.weights.h5", limit=2 << 30)  # no zip bomb
            if blob is None:
                raise KeyError(f"{path.name} has no model.weights.h5")
            notes["read_from"] = "model.weights.h5 inside the zip"
            with h5py.File(io.BytesIO(blob), "r") as f:
                check_h5(f, f"{path.name}: model.weights.h5", len(blob))
                params, layout = read_params(f)
        else:
            with h5py.File(path, "r") as f:
                check_h5(f, path.name, path.stat().st_size)
                params, layout = read_params(f)
        notes["layout"] = layout
        return Loaded(None, params, notes)
    return load
