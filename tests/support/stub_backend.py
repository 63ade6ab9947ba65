"""An environment backend whose worker is tests/stub_worker.py: the host's orchestration
(phases, resume, shards, crash, timeout, signals, the save cache) without TensorFlow.

    python tests/stub_backend.py run --backend stub --save 2.12 --load 2.16 ...

runs the real `harness` command line with this backend registered (for tests that signal or
kill the host process)."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.envs import BACKENDS
from harness.envs.base import Environment

STUB_WORKER = Path(__file__).resolve().parent / "stub_worker.py"


class StubEnvironment(Environment):
    backend = "stub"

    def create(self, progress=None) -> dict:
        self.info = {"tf": f"{self.spec.tf}.0-stub", "keras": "stub", "numpy": "stub",
                     "python": sys.version.split()[0]}
        return self.info

    def gpu_absent_reason(self) -> str | None:
        return "no GPU on this host (stub backend)"

    def worker_command(self, batch_file: Path) -> list[str]:
        return [sys.executable, "-I", str(STUB_WORKER), str(batch_file)]


def register() -> None:
    BACKENDS["stub"] = f"{__name__}:StubEnvironment"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    __name__ = "stub_backend"  # noqa: A001 - importable under the name BACKENDS gives it
    sys.modules["stub_backend"] = sys.modules["__main__"]
    register()
    from harness.cli import main

    sys.exit(main(sys.argv[1:]))
