"""The incremental load cache: a load cell is not redone when nothing that decides it changed.

What decides a load cell's outcome: the artifact's bytes and its reference (inputs the loaded
model predicts on), the load environment's resolved package set (every installed distribution,
its variables, its device), the worker's code, the loader and the request's options.  Their
hash is the key.  The cache keeps the *worker's* result (and its arrays), not the row: the host
judges a reused result with today's tolerances and comparison code, so changing those never
needs a rerun, and a reused row is decided exactly as a fresh one.  The verdict is kept beside
the entry under the hash of that code, the loader and the tolerances, so an unchanged night
reads it instead of judging again.

Only outcomes the same inputs give again are kept (ok, load-error, unsupported); a crash or a
timeout may be the machine's doing and is always redone.  Entries are verified before use (the
arrays' sha256), and a bad entry is ignored and overwritten.  Layout:

    loads/<key[:2]>/<key>/result.json     the worker's result + the run that made it
    loads/<key[:2]>/<key>/arrays.npz      its predictions and parameters (ok loads)
    loads/<key[:2]>/<key>/verdict-<h>.json  the row fields judged from them, h = the hash of
                                          the comparison code, the loader and the tolerances
                                          (a reused cell is judged once per such change)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from functools import cache
from pathlib import Path

from ..digests import sha256_file
from ..jsonfile import write_json_atomic
from ..plan.requests import LoadRequest
from ..worker import outcomes
from .saves import entry_inputs

REUSABLE = (outcomes.OK, outcomes.LOAD_ERROR, outcomes.UNSUPPORTED)
KEY_FILE = "cache.key"  # this machine's secret: signs every result and verdict written here
MAC = "_mac"


def _key(root: Path) -> bytes:
    """The cache's signing key, made on first use (0600).  A file rewritten whole, its digests
    recomputed, does not carry a valid signature without it; a cache copied from elsewhere
    (another machine, a CI cache) is judged again once, then signed here."""
    import os
    import secrets

    path = Path(root) / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    Path(root).mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
    return path.read_bytes()


def signed(root: Path, name: str, data: dict) -> dict:
    """`data` with its signature: an HMAC over its canonical JSON and the file's name."""
    import hmac

    body = json.dumps({k: v for k, v in data.items() if k != MAC}, sort_keys=True,
                      default=str).encode()
    return data | {MAC: hmac.new(_key(root), name.encode() + b"\0" + body,
                                 hashlib.sha256).hexdigest()}


def verified(root: Path, name: str, data) -> bool:
    import hmac

    if not isinstance(data, dict) or not isinstance(data.get(MAC), str):
        return False
    return hmac.compare_digest(signed(root, name, data)[MAC], data[MAC])


@cache
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(Path(path))


def digest(path: Path) -> str:
    """sha256 of a file, computed once per (path, mtime, size) in this process."""
    st = Path(path).stat()
    return _file_digest(str(path), st.st_mtime_ns, st.st_size)


class LoadCache:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._env_inputs: dict[int, str] = {}

    def _env_hash(self, env) -> str:
        if id(env) not in self._env_inputs:
            blob = json.dumps(entry_inputs(env), sort_keys=True, default=str).encode()
            self._env_inputs[id(env)] = hashlib.sha256(blob).hexdigest()
        return self._env_inputs[id(env)]

    def key(self, req: LoadRequest, env, manifest: dict) -> str | None:
        """The key of a load request in `env`, or None when the artifact cannot be pinned down
        (no manifest with file digests: then the cell always runs)."""
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, dict) or not files:
            return None
        try:
            ref = {n: digest(req.reference_dir / n) for n in ("reference.json",
                                                             "reference.npz")}
        except OSError:
            return None
        parts = {
            "artifact": {n: (f or {}).get("sha256") for n, f in sorted(files.items())},
            "manifest": {k: v for k, v in manifest.items() if k not in ("files", "created")},
            "reference": ref,
            "env": self._env_hash(env),
            "request": {k: v for k, v in req.to_json().items()
                        if k not in ("id", "cell", "artifact_dir", "reference_dir")},
        }
        blob = json.dumps(parts, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def _dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def entry(self, key: str) -> Path | None:
        """The folder of a stored entry (the verdicts judged from it are kept there too)."""
        folder = self._dir(key)
        return folder if (folder / "result.json").exists() else None

    def get(self, key: str) -> tuple[dict, Path | None] | None:
        """(the worker's result, its arrays) when a verified entry exists."""
        folder = self._dir(key)
        try:
            result = json.loads((folder / "result.json").read_bytes())
        except (OSError, ValueError):
            return None
        if not verified(self.root, f"{key}/result.json", result) or \
                result.get("status") not in REUSABLE:
            return None
        result = {k: v for k, v in result.items() if k != MAC}
        arrays = folder / "arrays.npz"
        expected = result.get("arrays_sha256")
        if expected is None:
            return (result, None) if not arrays.exists() else None
        try:
            if sha256_file(arrays) != expected:
                return None
        except OSError:
            return None
        return result, arrays

    def put(self, key: str, result: dict, arrays: Path | None, run_id: str) -> None:
        if result.get("status") not in REUSABLE:
            return
        folder = self._dir(key)
        folder.mkdir(parents=True, exist_ok=True)
        for verdict in folder.glob("verdict-*.json"):  # judged from what is being replaced
            verdict.unlink(missing_ok=True)
        keep = {k: v for k, v in result.items() if k not in ("log", "arrays", "id")}
        keep["made_by_run"] = run_id
        if arrays is not None and Path(arrays).exists():
            tmp = folder / f"arrays.npz.{id(result)}.tmp"
            shutil.copyfile(arrays, tmp)
            tmp.replace(folder / "arrays.npz")
            keep["arrays_sha256"] = sha256_file(folder / "arrays.npz")
        else:
            (folder / "arrays.npz").unlink(missing_ok=True)
        write_json_atomic(folder / "result.json", signed(self.root, f"{key}/result.json", keep))
