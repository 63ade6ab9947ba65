"""Writing JSON files that other processes (or a later run) read: atomically, or not at all.

The host's one writer: run.json, the environments' harness-env.json and the save cache's
entries all go through it.  (The worker has its own copy in harness/worker/files.py, because it
must not import the host package.)"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_json_atomic(path: Path, data, *, indent: int | None = 1, default=str,
                      sort_keys: bool = False) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`: a reader sees the
    old file or the new one, never half of one.  The temporary name holds the pid, so two
    processes writing the same file never share a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=indent, default=default, sort_keys=sort_keys))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
