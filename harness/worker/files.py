"""Writing results: atomic JSON files and the error fields every failed cell carries."""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path


def write_json_atomic(path: Path, data: dict) -> None:
    # The host polls for these files while the worker runs: never let it read half a file.
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def error_fields(exc: BaseException) -> dict:
    """The library's own exception type and message, plus the traceback for the log."""
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {
        "error_type": f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins."),
        "error": _shorten(str(exc).strip()),
        "traceback": "".join(tb)[-6000:],
    }


def _shorten(message: str, limit: int = 2000) -> str:
    """At most `limit` characters, keeping both ends: TF's graph errors put the Python stack
    of the failing node first and what went wrong ("Table not initialized") last."""
    if len(message) <= limit:
        return message
    half = (limit - 5) // 2
    return f"{message[:half]} ... {message[-half:]}"
