"""Building a TF image for one environment spec with the Docker SDK (classic builder: no
BuildKit, so no `RUN --mount`; the wheels come in through the build context instead).

Two stages: the first installs the host-fetched wheels into /opt/venv, with the network off;
the second copies only /opt/venv onto a clean base, so the image does not also carry the
wheels (a `COPY` layer cannot be deleted by a later `RUN`).  The last step imports TensorFlow:
an image that is built is an image whose TF imports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from .images import L_INTERP, L_KIND, L_PYTHON, L_REQUESTED, LABEL, ImageBuildError, client

QUERY = Path(__file__).resolve().parent.parent / "query.py"
INFO_PATH = "/opt/harness-env.json"  # resolved versions, written inside the image at build time
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the classic builder colours a step's stderr


@dataclass(frozen=True)
class Base:
    """What a TF image is built on."""

    kind: str  # "debian" (local, from `harness images base`), "image" (e.g. python:3.9-slim,
    #            pulled from a registry) or "tensorflow" (the official tensorflow/tensorflow)
    ref: str  # image reference; for "tensorflow" the repository
    python: str  # full Python version inside ("3.9.2"); "" where unknown before pulling
    glibc: str  # glibc inside, for the manylinux tags of the wheels
    interpreter: str  # the base's Python
    image_id: str = ""  # local image id where known: part of the key (a new base, new images)

    def describe(self) -> dict:
        return {"kind": self.kind, "ref": self.ref, "python": self.python, "glibc": self.glibc,
                "id": self.image_id}


OFFLINE = """\
FROM {base} AS build
LABEL {label}="1" {kind}="build-stage"
COPY wheels /wheels
COPY requirements.txt query.py /harness/
RUN {interpreter} -m venv /opt/venv \\
 && /opt/venv/bin/python -m pip install --no-index --find-links /wheels --no-deps \\
    --ignore-requires-python --disable-pip-version-check --no-warn-script-location \\
    -r /harness/requirements.txt
RUN /opt/venv/bin/python -I /harness/query.py {info}
FROM {base}
COPY --from=build /opt/venv /opt/venv
COPY --from=build {info} {info}
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN /opt/venv/bin/python -I -c "import tensorflow as tf; print('TensorFlow', tf.__version__, \\
'imports')"
{labels}
"""

# The official images already hold TF (and h5py); a variant's extra packages come from the
# registry, so this template is for hosts that reach one (the build keeps the network).
OFFICIAL = """\
FROM {base}
COPY query.py /harness/
{extra}RUN python3 -I /harness/query.py {info}
RUN python3 -I -c "import tensorflow as tf; print('TensorFlow', tf.__version__, 'imports')"
{labels}
"""


def label_line(labels: dict[str, str]) -> str:
    """All labels in one instruction: the build API's `labels` adds a step per label, and each
    step commits a layer (seconds apiece on fuse-overlayfs)."""
    return "LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in labels.items())


def dockerfile(base: Base, extra: list[str] | None = None,
               labels: dict[str, str] | None = None) -> str:
    fields = {"base": base.ref, "label": LABEL, "kind": L_KIND, "info": INFO_PATH,
              "interpreter": base.interpreter, "labels": label_line(labels or {LABEL: "1"})}
    if base.kind == "tensorflow":
        pip = (f"RUN python3 -m pip install --no-cache-dir {' '.join(map(json.dumps, extra))}\n"
               if extra else "")
        return OFFICIAL.format(**fields, extra=pip)
    return OFFLINE.format(**fields)


def interpreter_for(base: Base) -> str:
    return "python3" if base.kind == "tensorflow" else "/opt/venv/bin/python"


def build_image(tag: str, base: Base, requested: dict, *, pins: list[str] | None = None,
                wheels: list[Path] | None = None, extra: list[str] | None = None,
                progress=None, work_dir: Path | None = None,
                more_labels: dict[str, str] | None = None):
    """Build `tag`; return (image, seconds).  Raises ImageBuildError naming the failing step."""
    t0 = time.monotonic()
    labels = {LABEL: "1", L_KIND: "tf", L_PYTHON: base.python,
              L_INTERP: interpreter_for(base), L_REQUESTED: json.dumps(requested, sort_keys=True),
              **(more_labels or {})}
    with tempfile.TemporaryDirectory(prefix="tfh-build-", dir=work_dir) as tmp:
        ctx = Path(tmp)
        (ctx / "Dockerfile").write_text(dockerfile(base, extra, labels))
        shutil.copy(QUERY, ctx / "query.py")
        (ctx / "wheels").mkdir()
        (ctx / "requirements.txt").write_text("\n".join(pins or []) + "\n")
        for whl in wheels or []:
            try:
                os.link(whl, ctx / "wheels" / whl.name)  # same file system: no copy
            except OSError:
                shutil.copy(whl, ctx / "wheels" / whl.name)
        size = sum(p.stat().st_size for p in ctx.rglob("*") if p.is_file())
        if progress:
            progress(f"building {tag} on {base.ref} (context {size / 1e6:.0f} MB)")
        offline = base.kind != "tensorflow" or not extra
        stream = client().api.build(
            path=str(ctx), tag=tag, rm=True, forcerm=True, decode=True,
            network_mode="none" if offline else None, pull=False, use_config_proxy=False)
        try:
            _follow(stream, tag, progress)
        finally:  # a failed build leaves its first stage behind too
            _prune_build_stages()
    image = client().images.get(tag)
    return image, time.monotonic() - t0


def _follow(stream, tag: str, progress) -> None:
    """Show the build as progress; on failure raise with the failing step and its last lines."""
    step = "(before the first step)"
    tail: deque[str] = deque(maxlen=25)
    for chunk in stream:
        if "error" in chunk:
            msg = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            lines = "\n".join(f"  {ln}" for ln in tail)
            raise ImageBuildError(f"building {tag} failed at {step}: {msg.strip()}\n"
                                  f"last lines:\n{lines}")
        text = chunk.get("stream")
        if not text:
            continue
        for line in ANSI.sub("", text).splitlines():
            line = line.rstrip()
            if not line.strip():
                continue
            if line.startswith("Step "):
                step = line
                tail.clear()
            tail.append(line)
            if progress and not line.startswith((" ---> ", "Removing intermediate")):
                progress(f"  | {line[:200]}")


def _prune_build_stages() -> None:
    """The first stage is left behind as an untagged image: it holds the wheels, drop it."""
    try:
        client().images.prune(filters={"dangling": True, "label": f"{L_KIND}=build-stage"})
    except Exception:  # pruning is tidiness, never a reason to fail a build
        pass
