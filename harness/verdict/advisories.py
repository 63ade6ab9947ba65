"""Published ways past Keras's safe mode, by the Keras version that fixed each: an environment
whose Keras has one says so in the run's header (`harness show`, `run`) and in every row it
loaded with a Keras loader (notes.keras_advisories), so nobody reads "safe_mode stays on" as a
promise that Keras cannot keep.  Sources: the Keras security advisories (GHSA ids below) and
the CVE records they name."""

from __future__ import annotations

import re

# (advisory, Keras major it concerns, first fixed version, what an artifact can do)
KERAS_ADVISORIES = (
    ("CVE-2024-3660", 2, (2, 13, 0),
     "Lambda layers run their code on load (no safe_mode before Keras 2.13)"),
    ("CVE-2025-1550", 3, (3, 9, 0),
     "a .keras config.json can call any Python function (GHSA-48g7-3x6r-xfhp)"),
    ("CVE-2025-8747", 3, (3, 11, 0),
     "a .keras config.json can fetch files and chain to code (GHSA-c9rc-mg46-23w3)"),
    ("CVE-2025-9906", 3, (3, 11, 0),
     "a .keras config.json can turn safe mode off, then run a Lambda (GHSA-36fq-jgmw-4r9c)"),
    ("CVE-2025-9905", 3, (3, 11, 3),
     "load_model ignores safe_mode for .h5 files, so their Lambda layers run"),
    ("CVE-2026-1462", 3, (3, 14, 0),
     "a TFSMLayer in a .keras config loads a SavedModel's code despite safe_mode"),
)


def _version(text) -> tuple[int, ...] | None:
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", str(text or ""))
    return tuple(int(x or 0) for x in m.groups()) if m else None


def keras_advisories(keras_version) -> list[str]:
    """The advisories that apply to this Keras version, as `CVE-...`, oldest first."""
    v = _version(keras_version)
    if v is None:
        return []
    return [cve for cve, major, fixed, _ in KERAS_ADVISORIES if v[0] == major and v < fixed]


def advisory_note(keras_version) -> str | None:
    """One sentence for a row or a header, or None where no advisory applies."""
    found = keras_advisories(keras_version)
    if not found:
        return None
    if _version(keras_version)[0] == 2:
        return (f"Keras {keras_version} has no safe_mode ({', '.join(found)}): a Lambda layer in "
                "an artifact loaded with it runs its code; load only artifacts you trust")
    return (f"Keras {keras_version} has published safe_mode bypasses ({', '.join(found)}): an "
            "artifact loaded with it can run code even with safe_mode on; load only artifacts "
            "you trust")


def explained(keras_version) -> list[str]:
    """Each applying advisory with what it lets an artifact do (for --detail headers)."""
    found = set(keras_advisories(keras_version))
    return [f"{cve}: {what}" for cve, _, _, what in KERAS_ADVISORIES if cve in found]


def loads_with_keras(loader: str) -> bool:
    """Loaders that deserialize a Keras config (load_model, TFSMLayer, their variants)."""
    return loader.startswith(("keras.models.load_model", "keras.layers.TFSMLayer",
                              "tf.keras.models.load_model"))
