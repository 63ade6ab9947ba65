"""Load phase: load one artifact with one loader, predict on the stored inputs, read parameters,
and where the loader gives back a model with its optimizer, take the resume step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import outcomes, resume, zoo
from .files import error_fields
from .formats import FORMATS
from .runtime import LoadContext, Unsupported


def read_reference(ref_dir: Path) -> dict:
    """The save side's reference as the load side needs it.  A reference written before models
    had several inputs holds one array `inputs`: read as the one input `x0`."""
    meta = json.loads((ref_dir / "reference.json").read_text())
    with np.load(ref_dir / "reference.npz") as ref:
        if "inputs" in ref.files and "x0" not in ref.files:
            inputs = [ref["inputs"]]
        else:
            # an old reference has one `inputs` array (x0); a new one names its inputs (maybe none)
            inputs = [ref[f"x{i}"] for i in range(len(meta["inputs"]) if "inputs" in meta else 1)]
        params = [(n, ref[f"p{i}"]) for i, n in enumerate(meta["param_names"])]
        outputs = [ref[f"y{i}"] for i in range(meta.get("n_outputs") or 0)]
        batch = None
        res = meta.get("resume") or {}
        if res.get("param_names") is not None:
            xs = [ref[f"rx{i}"] for i in range(len(inputs))]
            labels = [ref[f"ry{i}"] for i in range(len(res.get("label_names") or [0]))]
            y = dict(zip(res["label_names"], labels)) if res.get("label_names") else labels[0]
            batch = (xs, y)
        elif res.get("discover"):  # a user's artifact: labels from its own outputs
            batch = resume.Discover(inputs)
    names = [i["name"] for i in meta.get("inputs") or []] or ["x"]
    return {"meta": meta, "inputs": inputs, "input_names": names, "params": params,
            "resume_batch": batch, "outputs": outputs}


def run_load(req: dict, out: Path) -> dict:
    fmt = FORMATS[req["format"]]
    loader = fmt.LOADERS.get(req["loader"])
    if loader is None:
        return {"status": outcomes.UNSUPPORTED,
                "error": f"the worker has no loader {req['loader']!r} for {req['format']}"}
    art = Path(req["artifact_dir"])
    ref = read_reference(Path(req["reference_dir"]))
    manifest = json.loads((art / "manifest.json").read_text())
    # a fixture's cells carry the fixture's name; the zoo model it was frozen from is in its
    # manifest (the loaders that rebuild a model need that one)
    ctx = LoadContext(art, manifest, manifest.get("model") or req["model"],
                      ref["inputs"], ref["params"], ref["input_names"], ref["resume_batch"],
                      ref["outputs"])
    zoo.clear_session()
    try:
        loaded = loader(ctx)
    except Unsupported as exc:
        return {"status": outcomes.UNSUPPORTED, "error": str(exc)}
    except Exception as exc:
        return {"status": outcomes.LOAD_ERROR} | error_fields(exc)
    arrays = {f"y{i}": _storable(y) for i, y in enumerate(loaded.outputs or [])}
    arrays |= {f"p{i}": _storable(v) for i, (_, v) in enumerate(loaded.params or [])}
    arrays |= {f"r{i}": _storable(v) for i, (_, v) in enumerate(loaded.resumed or [])}
    labels = (loaded.resume or {}).pop("_labels", None)  # chosen by resume.labels_for
    arrays |= {f"ry{i}": _storable(v) for i, v in enumerate(labels or [])}
    layer_meta, layer_arrays = loaded.layer_outputs or (None, {})
    arrays |= layer_arrays  # l<i>_<j>: worker/layers.py
    np.savez(out / f"{req['id']}.npz", **arrays)
    return {
        "status": outcomes.OK,
        "n_outputs": None if loaded.outputs is None else len(loaded.outputs),
        "param_names": None if loaded.params is None else [n for n, _ in loaded.params],
        "resume_param_names": None if loaded.resumed is None else
        [n for n, _ in loaded.resumed],
        "resume": loaded.resume,
        "state_exposed": loaded.exposes_state,
        "notes": loaded.notes,
        "layer_outputs": layer_meta,
    }


def _storable(a) -> np.ndarray:
    """Strings (TF hands back bytes objects) as a numpy unicode array: np.load needs no
    pickle for it."""
    a = np.asarray(a)
    if a.dtype.kind in "OS":
        return np.vectorize(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes)
                            else str(v), otypes=[str])(a) if a.size else a.astype(str)
    return a
