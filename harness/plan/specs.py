"""Environment specs: what a user writes ("2.16", "2.16.1", "2.16+tf_keras", "2.16+keras==3.3.3")
and what it means to install."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ..errors import HarnessError

# Python versions each TF minor has Linux wheels for (from the package index's metadata).
TF_PYTHONS: dict[tuple[int, int], tuple[str, ...]] = {
    (2, 5): ("3.6", "3.7", "3.8", "3.9"),
    (2, 6): ("3.6", "3.7", "3.8", "3.9"),
    (2, 7): ("3.7", "3.8", "3.9"),
    (2, 8): ("3.7", "3.8", "3.9", "3.10"),
    (2, 9): ("3.7", "3.8", "3.9", "3.10"),
    (2, 10): ("3.7", "3.8", "3.9", "3.10"),
    (2, 11): ("3.7", "3.8", "3.9", "3.10"),
    (2, 12): ("3.8", "3.9", "3.10", "3.11"),
    (2, 13): ("3.8", "3.9", "3.10", "3.11"),
    (2, 14): ("3.9", "3.10", "3.11"),
    (2, 15): ("3.9", "3.10", "3.11"),
    (2, 16): ("3.9", "3.10", "3.11", "3.12"),
    (2, 17): ("3.9", "3.10", "3.11", "3.12"),
    (2, 18): ("3.9", "3.10", "3.11", "3.12"),
    (2, 19): ("3.9", "3.10", "3.11", "3.12"),
    (2, 20): ("3.9", "3.10", "3.11", "3.12", "3.13"),
    (2, 21): ("3.10", "3.11", "3.12", "3.13"),
}

_SPEC = re.compile(r"^(?P<tf>\d+\.\d+(?:\.\d+)?)"
                   r"(?:\+(?P<variant>tf_keras|keras==[\w.]+|as_of=\d{4}-\d{2}-\d{2}))?$")


class SpecError(HarnessError, ValueError):
    """A spec the user wrote that cannot mean an environment."""


def parse_as_of(text, where: str = "as_of") -> dt.date:
    """A real past date, YYYY-MM-DD: uv resolves packages as of then (--exclude-newer)."""
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        raise SpecError(f"{where} {text!r}: expected a date YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise SpecError(f"{where} {text!r}: not a real date ({exc})") from None
    if day > dt.date.today():
        raise SpecError(f"{where} {text} is in the future: packages can only be resolved "
                        "as of today or earlier")
    return day


@dataclass(frozen=True)
class EnvSpec:
    tf: str  # "2.16" (newest patch) or "2.16.1" (exact)
    variant: str | None = None  # None, "tf_keras" or "keras==X.Y.Z"
    device: str = "cpu"

    @classmethod
    def parse(cls, text: str, device: str = "cpu") -> EnvSpec:
        m = _SPEC.match(text.strip())
        if not m:
            hint = (" (a comma separates versions: was 2.16 meant?)"
                    if text.strip().isdigit() else "")
            raise SpecError(
                f"bad TF version spec {text!r}{hint}: expected e.g. 2.16, 2.16.1, 2.16+tf_keras, "
                "2.16+keras==3.3.3 or 2.16+as_of=2024-04-01"
            )
        if m["variant"] and m["variant"].startswith("as_of="):
            parse_as_of(m["variant"].split("=", 1)[1], where=f"{text.strip()}: as_of")
        return cls(m["tf"], m["variant"], device)

    @property
    def label(self) -> str:
        return self.tf + (f"+{self.variant}" if self.variant else "")

    @property
    def minor(self) -> tuple[int, int]:
        major, minor = self.tf.split(".")[:2]
        return int(major), int(minor)

    @property
    def legacy_keras(self) -> bool:
        return self.variant == "tf_keras"

    @property
    def as_of(self) -> str | None:
        """`2.16+as_of=2024-04-01`: this environment resolves as the index stood that day (TF
        2.16 with the Keras 3.1 of its release, not today's), whatever the run's --as-of."""
        if self.variant and self.variant.startswith("as_of="):
            return self.variant.split("=", 1)[1]
        return None

    def check_python(self, python_version: str) -> None:
        """Fail early, in one line, where no wheel can exist for this Python."""
        py = ".".join(python_version.split(".")[:2])
        supported = TF_PYTHONS.get(self.minor)
        if supported is None:
            known = ", ".join(f"{a}.{b}" for a, b in TF_PYTHONS)
            raise SpecError(f"TF {self.tf}: not a TensorFlow 2 release this harness knows "
                            f"(known minors: {known})")
        if py not in supported:
            raise SpecError(
                f"TF {self.tf}: no wheels for Python {py} (it has {', '.join(supported)}); "
                "use a matching --python, or the docker backend with an older base"
            )
        if self.legacy_keras and self.minor < (2, 16):
            raise SpecError(f"{self.label}: tf_keras is for TF >= 2.16; {self.tf} has Keras 2")

    def requirements(self) -> list[str]:
        pin = f"=={self.tf}" if self.tf.count(".") == 2 else f"=={self.tf}.*"
        dist = "tensorflow[and-cuda]" if self.device == "gpu" else "tensorflow-cpu"
        reqs = [f"{dist}{pin}", "h5py"]
        if self.legacy_keras:
            reqs.append(f"tf-keras=={self.minor[0]}.{self.minor[1]}.*")
        elif self.variant and not self.as_of:
            reqs.append(self.variant)
        return reqs

    def optional_requirements(self) -> dict[str, list[str]]:
        """Converters installed after TF, each group on its own: a group that cannot install
        for this TF leaves the environment as it was, and its loaders say `unsupported`.

        Versions were picked with `uv pip install --dry-run` against each TF minor: tf2onnx
        1.17 (no protobuf 3.20 pin, unlike 1.16) and onnxruntime resolve from 2.12 to 2.21;
        tfmot 0.7.5 is the last release for Keras 2 inside tf.keras (0.8 wants tf_keras and
        would drag the full `tensorflow` package in through it), and under Keras 3 tfmot
        cannot run at all, so it is installed only where Keras 2 is what the worker uses.
        """
        # onnx >= 1.18 imports ml_dtypes.float4_e2m1fn (ml_dtypes >= 0.5) without saying so in
        # its metadata; TF 2.14-2.18 pin ml_dtypes 0.2-0.4, where the newest onnx then fails at
        # import.  onnx 1.17 imports there (checked on 2.14 and 2.16).
        onnx = "onnx<1.18" if self.minor < (2, 19) else "onnx"
        groups = {"onnx": ["tf2onnx==1.17.0", onnx], "onnxruntime": ["onnxruntime"],
                  "litert": ["ai-edge-litert"]}
        if self.minor < (2, 16):
            groups["tfmot"] = ["tensorflow-model-optimization==0.7.5"]
        elif self.legacy_keras:
            groups["tfmot"] = ["tensorflow-model-optimization==0.8.*"]
        return groups

    def env_vars(self) -> dict[str, str]:
        return {"TF_USE_LEGACY_KERAS": "1"} if self.legacy_keras else {}
