"""`harness images probe SPEC... --suite S`: does this TF version install and import on that base?

Cheaper than a build (no layer is committed): resolve and fetch the wheels on the host as a build
would, then, in a throw-away container of the base with the network off, make a venv, install
from the wheelhouse and import TensorFlow and Keras.  This is how docs/docker.md's table of what
works under each base was made.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .build import Base
from .images import L_KIND, LABEL, ImageBuildError, client

SCRIPT = """\
set -e
{interp} -m venv /tmp/v
/tmp/v/bin/python -m pip install -q --no-index --no-deps --find-links /wheels \\
    --disable-pip-version-check -r /probe/requirements.txt
/tmp/v/bin/python -I -c 'import tensorflow as tf, keras, numpy, h5py
print("IMPORTS", tf.__version__, keras.__version__, numpy.__version__)
tf.constant([1.0]) + 1.0'
"""


def probe(spec, base: Base, cache_dir: Path, as_of: str | None = None) -> dict:
    """{"ok": bool, "tf": version or None, "keras", "numpy", "seconds", "why": last lines}."""
    from . import wheelhouse
    from .backend import constraints_for

    t0 = time.monotonic()
    work = cache_dir / "docker"
    try:
        pins = wheelhouse.resolve(spec.requirements(), constraints_for(spec.minor), base.python,
                                  base.glibc, as_of)
        house = work / "wheelhouse" / f"cp{base.python}-glibc{base.glibc}"
        wheelhouse.download(pins, base.python, base.glibc, house, work)
    except ImageBuildError as exc:
        return {"ok": False, "tf": None, "why": f"no install: {exc}",
                "seconds": time.monotonic() - t0}
    with tempfile.TemporaryDirectory(prefix="tfh-probe-", dir=work) as tmp:
        (Path(tmp) / "requirements.txt").write_text("\n".join(pins) + "\n")
        (Path(tmp) / "probe.sh").write_text(SCRIPT.format(interp=base.interpreter))
        c = client().containers.create(
            base.ref, ["sh", "-c", "sh /probe/probe.sh >/probe/out.txt 2>&1"],
            network_mode="none", mem_limit="8g", labels={LABEL: "1", L_KIND: "probe"},
            volumes={str(house): {"bind": "/wheels", "mode": "ro"},
                     tmp: {"bind": "/probe", "mode": "rw"}})
        try:
            c.start()
            status = c.wait(timeout=1800)["StatusCode"]
        finally:
            c.remove(force=True)
        out = (Path(tmp) / "out.txt").read_text(errors="replace")
    line = next((ln for ln in out.splitlines() if ln.startswith("IMPORTS ")), "")
    parts = line.split()
    ok = status == 0 and bool(parts)
    result = {"ok": ok, "tf": parts[1] if ok else None, "keras": parts[2] if ok else None,
              "numpy": parts[3] if ok else None, "seconds": time.monotonic() - t0,
              "why": "" if ok else "\n".join(out.strip().splitlines()[-6:])}
    return result
