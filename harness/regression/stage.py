"""From a fixture folder to what the worker loads: the artifact copied under the name its
format's loaders open (`savedmodel/`, `model.h5`, a checkpoint folder ...) next to the
`manifest.json` they read, and `reference.json` + `reference.npz` (inputs, expected outputs,
parameters).  The fixture itself is never touched; the copy lives in the cache, keyed by the
fixture's digests, so a resumed run finds it again and a changed fixture never reuses it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..digests import sha256_file, verify_files
from ..errors import UserError
from ..plan.cells import Cell
from ..run.runner import Presaved
from .model import (
    ARTIFACT_DIR,
    CUSTOM_OBJECTS_FILE,
    EXPECTED_FILE,
    FIXTURE_FILE,
    HARNESS_MANIFEST,
    INPUTS_FILE,
    Fixture,
)

# Where each format's loaders open the artifact inside the folder they are given
# (harness/worker/formats/*: DIRNAME / FILENAME; checkpoints: the folder itself).
ENTRY = {"savedmodel": "savedmodel", "keras-savedmodel": "keras_savedmodel",
         "keras": "model.keras", "h5": "model.h5", "weights-h5": "model_weights.h5",
         "weights-h5-v3": "model.weights.h5",
         "tflite": "model.tflite", "tflite-dynamic": "model.tflite", "onnx": "model.onnx",
         "frozen-graph": "frozen_graph.pb", "tf-checkpoint": None, "tf1-checkpoint": None}
FROZEN_SIDECAR = "frozen_graph.json"
CHECKPOINT_STATE = "checkpoint"


def checkpoint_files(src: Path) -> tuple[list[Path], str]:
    """The files of a checkpoint (a folder, or a prefix), and the prefix's name."""
    if src.is_dir():
        state = src / CHECKPOINT_STATE
        prefix = None
        if state.is_file():
            for line in state.read_text(errors="replace").splitlines():
                if line.startswith("model_checkpoint_path:"):
                    prefix = Path(line.split(":", 1)[1].strip().strip('"')).name
        if prefix is None:
            indexes = sorted(src.glob("*.index"))
            if not indexes:
                raise UserError(f"{src}: no checkpoint (.index file) in it")
            prefix = indexes[-1].name[: -len(".index")]
        return sorted(p for p in src.iterdir() if p.is_file()), prefix
    prefix = src.name[: -len(".index")] if src.name.endswith(".index") else src.name
    files = sorted(p for p in src.parent.iterdir()
                   if p.is_file() and (p.name.startswith(prefix + ".")
                                       or p.name == CHECKPOINT_STATE))
    if not any(p.name == prefix + ".index" for p in files):
        raise UserError(f"{src}: no {prefix}.index beside it")
    return files, prefix


def copy_artifact(src: Path, fmt: str, dest: Path) -> None:
    """The artifact, copied byte for byte, into dest (created): under the name its format's
    loaders open; a checkpoint's files straight into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    if fmt in ("tf-checkpoint", "tf1-checkpoint"):
        for f in checkpoint_files(src)[0]:
            shutil.copy2(f, dest / f.name)
        return
    target = dest / ENTRY[fmt]
    if src.is_dir():
        shutil.copytree(src, target, symlinks=False)
    else:
        shutil.copy2(src, target)


def _entry_of(fx: Fixture) -> str:
    if fx.format in ("tf-checkpoint", "tf1-checkpoint"):
        return checkpoint_files(fx.artifact)[1]
    return ENTRY[fx.format]


# CONVERSION_METADATA's optimization modes that put int8/int16 arithmetic in the file: its
# outputs are judged with the quantized tolerance, as the zoo's tflite-dynamic cells are
# (PTQ_FLOAT16 only stores float16 weights; the sparsity modes change no values).
INT_QUANTIZATION = ("PTQ_DYNAMIC_RANGE", "PTQ_FULL_INTEGER", "PTQ_INT16",
                    "QUANTIZATION_AWARE_TRAINING")


def quantized_by_converter(fx: Fixture) -> bool:
    """A .tflite whose converter recorded an integer quantization (CONVERSION_METADATA)."""
    if fx.format not in ("tflite", "tflite-dynamic"):
        return False
    try:
        recorded = json.loads(fx.producer.get("recorded") or "{}")
    except ValueError:
        return False
    return any(m in INT_QUANTIZATION for m in recorded.get("optimizations") or [])


def worker_manifest(fx: Fixture, staged: Path) -> dict:
    """The manifest the loaders read for an artifact the harness did not write."""
    ref = fx.reference
    manifest = {
        "format": fx.format, "model": fx.zoo_model or fx.name, "fixture": fx.name,
        "producer": fx.producer, "entry": _entry_of(fx),
        "on_disk_format": fx.data.get("on_disk_format"),
        "files": {str(p.relative_to(staged)): {"sha256": sha256_file(p),
                                               "bytes": p.stat().st_size}
                  for p in sorted(staged.rglob("*")) if p.is_file()},
    }
    if fx.format in ("tf-checkpoint", "tf1-checkpoint"):
        # the producer side read the values by key: each key is its own parameter name
        manifest["checkpoint_keys"] = {n: n for n in ref.get("param_names") or []}
    if fx.format == "tflite-dynamic" or quantized_by_converter(fx):
        manifest["quantized"] = True
    if fx.custom_objects:
        manifest["custom_objects"] = CUSTOM_OBJECTS_FILE
    return manifest


def reference_meta(fx: Fixture) -> dict:
    ref = fx.reference
    meta = {"model": fx.zoo_model or fx.name, "scope": ref.get("scope", ""),
            "n_outputs": len(fx.data.get("outputs") or []),
            "param_names": list(ref.get("param_names") or []),
            "versions": dict(ref.get("versions") or {}) | {"reference": ref.get("source")},
            "inputs": [{k: i.get(k) for k in ("name", "dtype", "shape")}
                       for i in fx.data.get("inputs") or []],
            "outputs": [{k: o.get(k) for k in ("name", "dtype", "shape")}
                        for o in fx.data.get("outputs") or []]}
    if ref.get("resume"):
        meta["resume"] = json.loads(ref["resume"])
    return meta


def write_reference(dest: Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    np.savez(dest / "reference.npz", **arrays)
    (dest / "reference.json").write_text(json.dumps(meta, indent=1))


def _stage_key(fx: Fixture) -> str:
    return hashlib.sha256((fx.path / FIXTURE_FILE).read_bytes()).hexdigest()[:16]


def stage(fx: Fixture, cache_dir: Path) -> tuple[Path, Path]:
    """(artifact_dir, reference_dir) of a checked fixture, made once per fixture content."""
    root = Path(cache_dir) / "fixtures" / f"{fx.name}-{_stage_key(fx)}"
    art, ref = root / "artifact", root / "reference"
    if (root / "staged.json").is_file():
        recorded = json.loads((root / "staged.json").read_text())
        if not verify_files(root, recorded):
            return art, ref
        shutil.rmtree(root)  # someone changed the copy: make it again
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{fx.name}-", dir=root.parent))
    try:
        t_art = tmp / "artifact"
        if fx.zoo_model:  # frozen by the harness: its folder is already the loaders' layout
            shutil.copytree(fx.artifact, t_art)
        else:
            copy_artifact(fx.artifact, fx.format, t_art)
            if fx.format == "tf1-checkpoint" and not (t_art / CHECKPOINT_STATE).is_file():
                (t_art / CHECKPOINT_STATE).write_text(
                    f'model_checkpoint_path: "{_entry_of(fx)}"\n')
            # a user's TF1 checkpoint names its own tensors too (--outputs, inputs named after
            # its placeholders); without them its loader feeds the zoo's x:0 and fetches y:0
            if fx.format == "frozen-graph" or (fx.format == "tf1-checkpoint" and any(
                    o.get("tensor") for o in fx.data.get("outputs") or [])):
                io = {"inputs": [i.get("tensor") or f"{i['name']}:0"
                                 for i in fx.data.get("inputs") or []],
                      "outputs": [o.get("tensor") or f"{o['name']}:0"
                                  for o in fx.data.get("outputs") or []]}
                (t_art / FROZEN_SIDECAR).write_text(json.dumps(io, indent=1))
            if fx.custom_objects:
                shutil.copy2(fx.custom_objects, t_art / CUSTOM_OBJECTS_FILE)
            manifest = worker_manifest(fx, t_art)
            (t_art / HARNESS_MANIFEST).write_text(json.dumps(manifest, indent=1))
        arrays = {}
        for name in (INPUTS_FILE, EXPECTED_FILE):
            with np.load(fx.path / name, allow_pickle=False) as z:
                arrays |= {k: z[k] for k in z.files}
        write_reference(tmp / "reference", reference_meta(fx), arrays)
        files = {str(p.relative_to(tmp)): sha256_file(p)
                 for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / "staged.json").write_text(json.dumps(files))
        try:
            os.rename(tmp, root)
        except OSError:  # another process staged it first: theirs is the same content
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return art, ref


def identity(fx: Fixture) -> dict:
    """What a row records of the save side of a fixture cell (its `save_env`): the fixture,
    and where its reference came from, never silently."""
    ref = fx.reference
    return {"fixture": fx.name, "backend": "fixture", "label": fx.save_tf,
            "reference": ref.get("source"), "reference_detail": ref.get("detail"),
            "origin": (fx.data.get("origin") or {}).get("source")}


def presaved(fx: Fixture, cache_dir: Path) -> Presaved:
    art, ref = stage(fx, cache_dir)
    manifest = json.loads((art / HARNESS_MANIFEST).read_text())
    versions = {k: v for k, v in fx.producer.items() if k in ("tf", "keras", "numpy", "python")
                and v}
    return Presaved(fx.save_tf, fx.name, fx.format, art, ref, manifest=manifest,
                    versions=versions, identity=identity(fx), tolerance=fx.tolerance,
                    on_disk_format=fx.data.get("on_disk_format")
                    or manifest.get("on_disk_format"))


def cells(fx: Fixture, loads: list[str], device: str = "cpu") -> list[Cell]:
    return [Cell(fx.save_tf, "cpu", load, device, fx.name, fx.format, loader)
            for load in loads for loader in fx.loaders()]


def plan(fixtures: list[Fixture], loads: list[str], cache_dir: Path
         ) -> tuple[list[Cell], list[Presaved]]:
    if not fixtures:
        raise UserError("no fixtures to verify")
    return ([c for fx in fixtures for c in cells(fx, loads)],
            [presaved(fx, cache_dir) for fx in fixtures])


__all__ = ["ARTIFACT_DIR", "cells", "copy_artifact", "plan", "presaved", "stage"]
