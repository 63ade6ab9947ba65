"""The one clock: every timestamp the harness writes is UTC, in one of these two spellings."""

from __future__ import annotations

import datetime as dt


def now() -> str:
    """For people and run.json: `2026-12-04 21:34:40 UTC`."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def stamp() -> str:
    """For names (run ids, migrate folders): `20261204-213440`."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")


def iso() -> str:
    """For manifests (fixture.toml): `2026-12-04T21:34:40Z`."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
