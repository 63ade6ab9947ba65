"""sha256 digests of files on disk and their check against what was recorded when they were
written: the save cache, fixtures and resumed runs trust no file without it.

A manifest (`manifest.json`, written by the worker next to each artifact) maps each file's path
relative to the artifact folder to {"sha256", "bytes", "kind"}.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path, PurePosixPath

from .errors import HarnessError


class ManifestError(HarnessError, ValueError):
    """A manifest that cannot be read as one (one line, naming the file)."""


def sha256_file(path: Path) -> str:
    """The host's one file digest.  (The worker has its own, harness/worker/save.py's sha256,
    because it must not import the host package; both read 1 MiB chunks of the same bytes.)"""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _safe_relative(name: str) -> bool:
    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\0" not in name


def read_manifest(path: Path) -> dict[str, str]:
    """The files a manifest lists: relative path -> sha256."""
    try:
        data = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise ManifestError(f"{path}: missing") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read it ({exc.strerror})") from None
    except (ValueError, RecursionError):
        raise ManifestError(f"{path}: not JSON") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise ManifestError(f"{path}: no 'files' table of the artifact's files")
    out = {}
    for name, info in files.items():
        digest = info.get("sha256") if isinstance(info, dict) else None
        if not _safe_relative(name):
            raise ManifestError(f"{path}: file {name[:80]!r} is not a path inside the artifact")
        if not (isinstance(digest, str) and len(digest) == 64
                and all(c in "0123456789abcdef" for c in digest)):
            raise ManifestError(f"{path}: {name[:80]!r} has no sha256")
        out[name] = digest
    return out


def _listed(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


def verify_files(root: Path, expected: dict[str, str], *, allow_extra: bool = False) -> list[str]:
    """What differs between the files under `root` and `expected` (relative path -> sha256):
    one line per problem (missing, changed, not a regular file, not expected), empty if none."""
    root = Path(root)
    if not root.is_dir():
        return [f"{name}: missing" for name in sorted(expected)] or [f"{root}: missing"]
    problems = []
    for name, digest in sorted(expected.items()):
        path = root / name
        if not _safe_relative(name):
            problems.append(f"{name!r}: not a path inside {root}")
            continue
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            problems.append(f"{name}: missing")
            continue
        if not stat.S_ISREG(mode):
            problems.append(f"{name}: not a regular file")
            continue
        found = sha256_file(path)
        if found != digest:
            problems.append(f"{name}: changed (sha256 {found[:12]}..., recorded "
                            f"{digest[:12]}...)")
    if not allow_extra:
        problems += [f"{name}: not listed" for name in sorted(_listed(root) - set(expected))]
    return problems
