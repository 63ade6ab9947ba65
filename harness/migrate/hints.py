"""Where `harness try` and `harness advise` should point at `harness migrate`: the breaks a
route is known to fix (measured: docs/migration.md), as one line."""

from __future__ import annotations

from .routes import KERAS_FILES, WEIGHTS

# Keras 2 -> Keras 3 breaks of these formats have a route that proves out (target-load,
# producer-handoff or legacy-keras-handoff, to `.keras`).
TO_KERAS = KERAS_FILES + ("keras-savedmodel",) + WEIGHTS
# SavedModels: re-exported for serving (target-reexport, legacy-keras-reexport).
TO_SERVING = ("savedmodel", "keras-savedmodel")


def _minor(version: str) -> tuple:
    parts = str(version).split("+")[0].split(".")
    return tuple(int(p) for p in parts[:2]) if all(p.isdigit() for p in parts[:2]) else ()


def migrate_hint(fmt: str, producer: str, target: str, artifact: str = "ARTIFACT") -> str | None:
    """One line naming the `harness migrate` call known to work for this format's break from
    `producer` (a TF version) to `target`, or None where no route is known to: only Keras 2
    (TF <= 2.15) -> Keras 3 (TF >= 2.16 without +tf_keras) was measured."""
    from .runner import keras3

    made = _minor(producer)
    if not made or made >= (2, 16) or not keras3(target):
        return None
    if fmt in TO_KERAS:
        return f"`harness migrate {artifact} --to {target}` writes a .keras it loads and proves " \
               "it (docs/migration.md)"
    if fmt in TO_SERVING:
        return f"`harness migrate {artifact} --to {target} --out DIR` re-exports a SavedModel " \
               "it serves and proves it (docs/migration.md)"
    return None
