"""Moved to harness.reports.terminal; this name stays until every caller imports from there."""

from __future__ import annotations

from .reports.terminal import terminal_table

__all__ = ["terminal_table"]
