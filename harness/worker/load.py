"""Load phase: load one artifact with one loader, predict on the stored inputs, read parameters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import zoo
from .files import error_fields
from .formats import FORMATS
from .runtime import LoadContext, Unsupported


def run_load(req: dict, out: Path) -> dict:
    fmt = FORMATS[req["format"]]
    loader = fmt.LOADERS.get(req["loader"])
    if loader is None:
        return {"status": "unsupported",
                "error": f"the worker has no loader {req['loader']!r} for {req['format']}"}
    art = Path(req["artifact_dir"])
    ref_dir = Path(req["reference_dir"])
    names = json.loads((ref_dir / "reference.json").read_text())["param_names"]
    with np.load(ref_dir / "reference.npz") as ref:
        inputs = ref["inputs"]
        ref_params = [(n, ref[f"p{i}"]) for i, n in enumerate(names)]
    ctx = LoadContext(art, json.loads((art / "manifest.json").read_text()), req["model"], inputs,
                      ref_params)
    zoo.clear_session()
    try:
        loaded = loader(ctx)
    except Unsupported as exc:
        return {"status": "unsupported", "error": str(exc)}
    except Exception as exc:
        return {"status": "load-error"} | error_fields(exc)
    arrays = {f"y{i}": y for i, y in enumerate(loaded.outputs or [])}
    arrays |= {f"p{i}": v for i, (_, v) in enumerate(loaded.params or [])}
    np.savez(out / f"{req['id']}.npz", **arrays)
    return {
        "status": "ok",
        "n_outputs": None if loaded.outputs is None else len(loaded.outputs),
        "param_names": None if loaded.params is None else [n for n, _ in loaded.params],
        "notes": loaded.notes,
    }
