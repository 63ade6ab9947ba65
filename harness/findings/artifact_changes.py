"""What a save version writes differently from the one before it, read from a run's own
artifacts: the checkpoint key each parameter is stored under (manifest `checkpoint_keys`), the
variable names (reference.json), and the keys of the Keras model config (`.keras` config.json,
the `.h5` model_config attribute).  Code that reads a checkpoint by key, or edits a saved config,
breaks on exactly these (`kernel` -> `_kernel`, `batch_input_shape` -> `batch_shape`), even
where every loader still passes.  Pure Python on the host: no TF, no h5py."""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..results.view import version_key
from ..verdict.compare import normalize_name

CONFIG_FORMATS = ("keras", "keras-v3", "h5")
MAX_CONFIG_BYTES = 64 << 20
ATTR = "/.ATTRIBUTES/VARIABLE_VALUE"


@dataclass
class Change:
    """How one format's artifacts differ between two consecutive save versions."""

    fmt: str
    old: str
    new: str
    renamed: Counter = field(default_factory=Counter)  # "old part -> new part" -> count
    added: set = field(default_factory=set)  # config keys / names only the new version writes
    removed: set = field(default_factory=set)
    models: set = field(default_factory=set)
    what: str = ""  # "checkpoint keys", "config keys", "variable names"

    def summary(self, most: int = 3) -> str:
        parts = [f"`{r}` ({n})" for r, n in self.renamed.most_common(most)]
        if len(self.renamed) > most:
            parts.append(f"{len(self.renamed) - most} more renames")
        if self.removed:
            parts.append("gone: " + ", ".join(f"`{k}`" for k in sorted(self.removed)[:most]))
        if self.added:
            parts.append("new: " + ", ".join(f"`{k}`" for k in sorted(self.added)[:most]))
        return f"{self.what}: " + "; ".join(parts)


def _label_of(run: Path) -> dict[str, str]:
    info = json.loads((run / "run.json").read_text())
    return {e.get("key"): e.get("label", name)
            for name, e in (info.get("environments") or {}).items() if isinstance(e, dict)}


def _config_keys(path: Path) -> set[str] | None:
    """Every key path of a Keras model config (list positions dropped): from a .keras zip's
    config.json, else the JSON model_config stored in an HDF5 file."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                info = z.getinfo("config.json")
                if info.file_size > MAX_CONFIG_BYTES:
                    return None
                return _keys(json.loads(z.read(info)))
        blob = path.read_bytes()[:MAX_CONFIG_BYTES]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    start = blob.find(b'{"class_name"')
    if start < 0:
        return None
    try:
        config, _ = json.JSONDecoder().raw_decode(blob[start:].decode("utf-8", "replace"))
    except ValueError:
        return None
    return _keys(config)


def _keys(obj, prefix: str = "") -> set[str]:
    out = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            out.add(path)
            out |= _keys(v, path)
    elif isinstance(obj, list):
        for v in obj:
            out |= _keys(v, prefix + "[]")
    return out


def _model_file(art: Path) -> Path | None:
    files = [p for p in art.iterdir() if p.suffix in (".keras", ".h5") and p.is_file()]
    return files[0] if files else None


def collect(run: Path) -> dict[tuple[str, str], dict[str, dict]]:
    """(format, save label) -> model -> {"checkpoint": {param: key}, "config": set}."""
    labels = _label_of(run)
    out: dict[tuple[str, str], dict[str, dict]] = {}
    for env_dir in sorted((run / "artifacts").glob("*")):
        label = labels.get(env_dir.name)
        if label is None:
            continue
        for art in env_dir.glob("*/*"):
            manifest = art / "manifest.json"
            if not manifest.is_file():
                continue
            try:
                m = json.loads(manifest.read_text())
            except (OSError, ValueError):
                continue
            entry: dict = {}
            if isinstance(m.get("checkpoint_keys"), dict):
                model = str(m.get("model") or art.parent.name)
                keys: dict[str, set] = {}
                for key, param in m["checkpoint_keys"].items():
                    keys.setdefault(normalize_name(str(param), model), set()).add(
                        str(key).removesuffix(ATTR))
                entry["checkpoint"] = keys
            if art.name in CONFIG_FORMATS:
                model_file = _model_file(art)
                keys = _config_keys(model_file) if model_file else None
                if keys:
                    entry["config"] = keys
            if entry:
                out.setdefault((art.name, label), {})[art.parent.name] = entry
    return out


def _shown(keys: set) -> str:
    """The key a person looks for: the model's own path before an optimizer's reference."""
    return min(keys, key=lambda k: (k.startswith("optimizer/"), k))


def _rename(old: str, new: str) -> str:
    """The part of a key that changed: `kernel -> _kernel` in `.../dense/kernel/...`."""
    a, b = re.split(r"[/.]", old), re.split(r"[/.]", new)
    if len(a) == len(b):
        diff = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
        if len(diff) == 1:
            return f"{diff[0][0]} -> {diff[0][1]}"
    return f"{old} -> {new}"


def changes(run: Path) -> list[Change]:
    """For each format, each save version against the previous one (in version order), where
    they differ."""
    data = collect(run)
    by_fmt: dict[str, list[str]] = {}
    for fmt, label in data:
        by_fmt.setdefault(fmt, []).append(label)
    out = []
    for fmt, labels in sorted(by_fmt.items()):
        labels = sorted(labels, key=version_key)
        for old, new in zip(labels, labels[1:], strict=False):
            out += _diff(fmt, old, new, data[(fmt, old)], data[(fmt, new)])
    return out


def _diff(fmt: str, old: str, new: str, a: dict, b: dict) -> list[Change]:
    keys = Change(fmt, old, new, what="checkpoint keys")
    config = Change(fmt, old, new, what="config keys")
    for model in sorted(set(a) & set(b)):
        ca, cb = a[model].get("checkpoint"), b[model].get("checkpoint")
        if ca and cb:
            for param in sorted(set(ca) & set(cb)):  # (ties in most_common keep this order)
                if ca[param].isdisjoint(cb[param]):  # none of its old keys holds it any more
                    keys.renamed[_rename(_shown(ca[param]), _shown(cb[param]))] += 1
                    keys.models.add(model)
        ka, kb = a[model].get("config"), b[model].get("config")
        if ka and kb and ka != kb:
            config.removed |= {k.rsplit(".", 1)[-1] for k in ka - kb}
            config.added |= {k.rsplit(".", 1)[-1] for k in kb - ka}
            config.models.add(model)
    common = config.removed & config.added  # a key that only moved is no change of name
    config.removed -= common
    config.added -= common
    return [c for c in (keys, config) if c.renamed or c.added or c.removed]


def between(run: Path, old: str, new: str) -> list[Change]:
    """How every format's artifacts saved under `new` differ from those saved under `old`."""
    data = collect(run)
    out = []
    for fmt in sorted({f for f, _ in data}):
        if (fmt, old) in data and (fmt, new) in data:
            out += _diff(fmt, old, new, data[(fmt, old)], data[(fmt, new)])
    return out


def markdown(run: Path) -> list[str]:
    """The report's section (empty when the run holds artifacts of one save version only)."""
    found = changes(run)
    if not found:
        return []
    lines = ["## What the artifacts hold differently, save version to save version", "",
             "Code that reads a checkpoint by key or edits a saved model config breaks on "
             "these, even where every loader still passes.", "",
             "| format | saved with | changed | models |", "| --- | --- | --- | --- |"]
    for c in found:
        lines.append(f"| {c.fmt} | {c.old} → {c.new} | {c.summary()} | "
                     f"{', '.join(sorted(c.models))} |")
    return lines + [""]
