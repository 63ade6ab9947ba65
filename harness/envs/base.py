"""The Environment base class: a tiny surface, as asv's.

An environment is created (or reused) for one spec and runs the worker with its own interpreter.
Reuse is decided by a stored JSON of what was asked for; nothing else in the harness knows which
backend ran a cell.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

from ..errors import HarnessError
from ..jsonfile import write_json_atomic
from ..plan.specs import EnvSpec

WORKER_MAIN = Path(__file__).resolve().parent.parent / "worker" / "main.py"


class EnvError(HarnessError, RuntimeError):
    """An environment that cannot be made: the message is one line naming the spec and why."""


class Environment:
    backend = "base"
    worker_is_child = True  # the worker is a child process of the host (not a container)

    def __init__(self, spec: EnvSpec, cache_dir: Path, *, as_of: str | None = None,
                 python: str | None = None):
        self.spec = spec
        self.cache_dir = Path(cache_dir)
        self.as_of = spec.as_of or as_of  # `2.16+as_of=DATE` wins over the run's --as-of
        self.python = python
        self.info: dict = {}  # resolved versions, filled by create()

    def requested(self) -> dict:
        """What identifies this environment; a stored copy decides reuse."""
        return {"backend": self.backend, "spec": self.spec.label, "device": self.spec.device,
                "requirements": self.spec.requirements(), "as_of": self.as_of,
                "python": self.python}

    @property
    def key(self) -> str:
        blob = json.dumps(self.requested(), sort_keys=True).encode()
        safe = self.spec.label.replace("+", "_").replace("=", "")
        return f"{safe}-{self.spec.device}-{hashlib.sha256(blob).hexdigest()[:10]}"

    @property
    def label(self) -> str:
        """How the environment shows in tables: spec plus the Keras it really has."""
        if self.spec.legacy_keras and self.info.get("tf_keras"):
            return f"{self.spec.label} (tf_keras {self.info['tf_keras']})"
        keras = self.info.get("keras")
        return f"{self.spec.label} (keras {keras})" if keras else self.spec.label

    @contextmanager
    def lock(self):
        """Two runs sharing a cache must not build the same environment at once."""
        path = self.cache_dir / "locks" / f"{self.key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def check(self) -> None:
        """Fail in one line, before anything is installed, where the spec cannot work."""

    def prepare(self, progress=None) -> str | None:
        """Create (or reuse) the environment; return why its cells cannot run on this host
        (None when they can).  A GPU environment on a host without a GPU is never installed,
        and never quietly runs on the CPU: its cells are `unsupported` with this reason."""
        if self.spec.device == "gpu":
            reason = self.gpu_absent_reason()
            if reason:
                return reason
        self.create(progress=progress)
        return self.gpu_unusable_reason() if self.spec.device == "gpu" else None

    def gpu_absent_reason(self) -> str | None:
        """Before installing: why this host cannot run a GPU cell (e.g. no driver)."""
        return gpu_absent_reason()

    def gpu_unusable_reason(self) -> str | None:
        """After creating: why TF in this environment still sees no GPU."""
        return None

    def create(self, progress=None) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def worker_command(self, batch_file: Path) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def location(self) -> str:
        """Where the environment lives (a folder, an image tag): shown to users."""
        return str(self.cache_dir)

    def identity(self) -> dict:
        """What every cell row records about the environment it ran in, beyond versions
        (backends add e.g. an image id)."""
        return {"backend": self.backend, "key": self.key}

    def worker_env(self) -> dict[str, str]:
        env = self.spec.env_vars()
        if self.spec.device.startswith("cpu"):
            env["CUDA_VISIBLE_DEVICES"] = "-1"  # never let a CPU cell quietly use a GPU
        if self.spec.device == "cpu-noonednn":
            env["TF_ENABLE_ONEDNN_OPTS"] = "0"  # oneDNN changes float results on x86
        return env

    def start_worker(self, batch_file: Path, log: Path):
        """Start the worker on a batch; return a handle with poll() -> int | None, kill() and
        wait(timeout).  Output goes to `log`.  The default runs `worker_command` as a local
        process; a backend that runs elsewhere (a container) returns its own handle."""
        from .. import procs

        return procs.start(self.worker_command(batch_file), env=self.worker_env(), log=log)


def write_json(path: Path, data: dict) -> None:
    write_json_atomic(path, data, sort_keys=True, default=None)


def gpu_absent_reason() -> str | None:
    """Why this host cannot run a GPU cell, or None when it has a GPU driver."""
    import shutil

    from .. import procs

    smi = shutil.which("nvidia-smi")
    if not smi:
        return "no GPU on this host (nvidia-smi not found)"
    out = procs.run([smi, "-L"], timeout=60)
    if out.returncode or "GPU" not in out.stdout:
        return f"no GPU on this host (nvidia-smi -L: {(out.stderr or out.stdout).strip()[:200]})"
    return None
