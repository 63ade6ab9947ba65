"""The one path scrubber: no row, message or report shows which machine it was made on.

Two policies, one place: `scrub_paths(text, paths)` replaces the folders this run knows
(`machine_paths`: the run, the cache, the environments, the harness, the temp folder, home)
with placeholders when a row is built; `scrub_any(text)` replaces what any machine's folders
look like (site-packages, the harness cache, a home or temp folder) when a report is published,
for older rows and library messages that carry them."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path


def machine_paths(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Folders of this machine -> the placeholder a published row shows instead."""
    out = dict(extra or {})
    out.setdefault(str(Path(__file__).resolve().parent), "<harness>")  # our own tracebacks
    out.setdefault(tempfile.gettempdir(), "<tmp>")
    home = os.path.expanduser("~")
    if home not in ("/", "~"):
        out.setdefault(home, "~")
    return out


def scrub_paths(text: str, paths: Mapping[str, str]) -> str:
    """Replace each known folder (longest first, so an environment inside the cache is named
    as the environment) with its placeholder, where it starts a path."""
    for folder in sorted(paths, key=len, reverse=True):
        if not folder or folder == "/":
            continue
        pattern = re.escape(str(folder).rstrip("/")) + r"(?=/|\b|$)"
        text = re.sub(pattern, paths[folder].replace("\\", r"\\"), text)
    return text


# Paths of the machine that made a run, as older rows (and library messages) carry them: a
# published report shows where a file was, never whose machine it was on.
_SITE_PACKAGES = re.compile(r"(?<![\w.>/-])/[^\s'\"`=(\[{<>]*?/(?:site|dist)-packages/")
_CACHE = re.compile(r"(?:/root|/home/[^/\s'\"`]+|/Users/[^/\s'\"`]+)/\.cache/tf-compat-harness/")
_HOME = re.compile(r"(?<![\w.>-])(?:/root|/home/[^/\s'\"`]+|/Users/[^/\s'\"`]+)(?=/|\b)")
_TMP = re.compile(r"(?<![\w.>-])(?:/private)?(?:/var)?/tmp(?=/|\b)")


def scrub_any(text: str) -> str:
    """`.../site-packages/keras/x.py` -> `<site-packages>/keras/x.py`; the harness cache ->
    `<cache>/`; a home folder -> `<home>`; a temp folder -> `<tmp>`."""
    if "/" not in text:
        return text
    text = _SITE_PACKAGES.sub("<site-packages>/", text)
    text = _CACHE.sub("<cache>/", text)
    text = _HOME.sub("<home>", text)
    return _TMP.sub("<tmp>", text)
