"""Save phase: build each zoo model once, store its reference, save it in each format."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np

from . import layers, outcomes, resume, zoo
from .files import error_fields, write_json_atomic
from .formats import FORMATS
from .runtime import Unsupported, file_kind, versions

_built: dict[str, object] = {}  # model name -> zoo.Built, or the exception building it raised


def _get_built(name: str):
    if name not in _built:
        try:
            _built[name] = zoo.build(name)
        except Exception as exc:  # recorded per cell: every format of this model is a save-error
            _built[name] = exc
    return _built[name]


def _io_meta(names: list, arrays: list) -> list[dict]:
    return [{"name": n, "dtype": str(a.dtype), "shape": [None, *map(int, a.shape[1:])]}
            for n, a in zip(names, arrays)]


def output_names(built) -> list[str]:
    """The outputs' names in the order the reference lists them (a dict output sorted by key,
    as every loader's outputs are)."""
    names = list(getattr(built.obj, "output_names", None) or []) if built.kind == "keras" else []
    outputs = getattr(built.obj, "outputs", None) if built.kind == "keras" else None
    n = len(outputs) if outputs else 1
    if len(names) != n:
        names = [f"output_{i}" for i in range(n)]
    return sorted(names) if isinstance(getattr(built.obj, "output", None), dict) else names


def write_reference(built, ref_dir: Path) -> None:
    """The save side's truth: stored inputs, its own predictions and parameters, and the
    weights after one optimizer step on the resume batch (resume.py)."""
    if (ref_dir / "reference.json").exists():
        return
    ref_dir.mkdir(parents=True, exist_ok=True)
    outputs = built.predict(built.inputs)
    params = built.params()
    arrays = {f"x{i}": x for i, x in enumerate(built.inputs)}
    arrays |= {f"y{i}": y for i, y in enumerate(outputs)}
    arrays |= {f"p{i}": v for i, (_, v) in enumerate(params)}
    meta = {
        "model": built.name,
        "scope": built.name,
        "n_outputs": len(outputs),
        "param_names": [n for n, _ in params],
        "versions": versions(),
        "inputs": _io_meta(built.input_names, built.inputs),
        "outputs": _io_meta(_output_names(built, len(outputs)), outputs),
        # adapted state (Normalization statistics, vocabularies): a loader that cannot show
        # it (a signature bakes it in as constants) is judged on its predictions there
        "state_params": state_param_names(built, params),
    }
    meta["layer_outputs"], layer_arrays = layers.record(built.obj, built.feed(built.inputs)) \
        if built.kind == "keras" else ({"unavailable": "a tf.Module has no Keras layers"}, {})
    arrays |= layer_arrays  # before the resume step, which trains (and restores) the model
    meta["resume"], resume_arrays = _resume_reference(built)
    arrays |= resume_arrays
    np.savez(ref_dir / "reference.npz", **arrays)
    write_json_atomic(ref_dir / "reference.json", meta)


def state_param_names(built, params: list) -> list[str]:
    if built.kind != "keras":
        return []
    from .runtime import VOCABULARY, variable_name

    ids = {id(w) for layer in getattr(built.obj, "layers", []) or []
           if type(layer).__name__ == "Normalization" for w in layer.weights}
    names = {variable_name(w) for w in built.obj.weights if id(w) in ids}
    return [n for n, _ in params if n in names or n.endswith("/" + VOCABULARY)]


def _output_names(built, n: int) -> list[str]:
    try:
        names = output_names(built)
    except Exception:
        names = []
    return names if len(names) == n else [f"output_{i}" for i in range(n)]


def _resume_reference(built) -> tuple[dict | None, dict]:
    """reference.json `resume` and its arrays: the batch (rx<i> inputs, ry<i> labels, in
    sorted output-name order for a dict) and the weights after the step (r<i>)."""
    if built.kind != "keras" or built.resume_batch is None \
            or resume.optimizer_of(built.obj) is None:
        return None, {}
    x_list, y = built.resume_batch
    if resume.distributed(built.obj):
        return {"skipped": "built under a distribution strategy"}, {}
    try:
        stepped, n_iter = resume.step_and_restore(built.obj, built.input_names, built.resume_batch)
    except Exception as exc:  # recorded: its loaders then cannot check resuming either
        return {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}, {}
    label_names = sorted(y) if isinstance(y, dict) else None
    labels = [y[k] for k in label_names] if label_names else [y]
    arrays = {f"rx{i}": x for i, x in enumerate(x_list)}
    arrays |= {f"ry{i}": v for i, v in enumerate(labels)}
    arrays |= {f"r{i}": v for i, (_, v) in enumerate(stepped)}
    return {"param_names": [n for n, _ in stepped], "label_names": label_names,
            "iterations": n_iter, "optimizer": type(resume.optimizer_of(built.obj)).__name__}, \
        arrays


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(art: Path, fmt: str, model: str, info: dict) -> dict:
    files = sorted(p for p in art.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {
        "format": fmt,
        "model": model,
        "producer": versions(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {str(p.relative_to(art)): {"sha256": sha256(p), "bytes": p.stat().st_size,
                                            "kind": file_kind(p)} for p in files},
    } | info
    write_json_atomic(art / "manifest.json", manifest)
    return manifest


def run_save(req: dict, out: Path) -> dict:
    built = _get_built(req["model"])
    if isinstance(built, Unsupported):  # the model cannot exist here (e.g. qat under Keras 3)
        return {"status": outcomes.UNSUPPORTED, "error": str(built)}
    if isinstance(built, Exception):
        return {"status": outcomes.SAVE_ERROR, "stage": "build"} | error_fields(built)
    write_reference(built, Path(req["reference_dir"]))
    fmt = FORMATS[req["format"]]
    reason = fmt.unsupported_reason(built)
    if reason:
        return {"status": outcomes.UNSUPPORTED, "error": reason}
    art = Path(req["artifact_dir"])
    art.mkdir(parents=True, exist_ok=True)
    try:
        info = fmt.save(built, art)
    except Unsupported as exc:  # the call does not exist here (Keras 3's TF-format weights)
        return {"status": outcomes.UNSUPPORTED, "error": str(exc)}
    except Exception as exc:
        return {"status": outcomes.SAVE_ERROR, "stage": "save"} | error_fields(exc)
    manifest = write_manifest(art, req["format"], req["model"], info or {})
    return {"status": outcomes.OK, "on_disk_format": manifest.get("on_disk_format"),
            "manifest": json.loads(json.dumps(manifest, default=str))}
