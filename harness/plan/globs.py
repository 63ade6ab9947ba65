"""The one glob dialect of matrix rules ([[exclude]]) and expectations ([[expect]]).

`*` and `?` are wildcards and `[...]` is a character class ("2.1[2-5]"), as in fnmatch
(case-sensitive); and a pattern equal to the value always matches, so a loader name with
brackets ("keras.models.load_model[compile=False]") matches itself though fnmatch would read
its brackets as a class.  An unclosed `[` is literal ("keras.models.load_model[*").
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable


def match(value: str, pattern: str) -> bool:
    return value == pattern or fnmatch.fnmatchcase(value, pattern)


def is_glob(pattern: str) -> bool:
    """Whether `pattern` can match anything but itself."""
    return any(c in pattern for c in "*?[")


def matches_any(value: str, patterns: Iterable[str]) -> bool:
    return any(match(value, p) for p in patterns)
