"""The default backend: one uv virtualenv per spec, in the cache folder, reused while the stored
request matches.  uv hard-links from its cache, so ten TF environments cost little disk."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import procs
from .base import EnvError, Environment, write_json

QUERY = Path(__file__).resolve().parent / "query.py"


def uv_bin() -> str:
    try:
        from uv import find_uv_bin  # the uv wheel is a dependency of the harness

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise EnvError("uv not found: pip install uv") from None
        return found


def run_uv(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """The one way the harness runs uv: its output captured, and on failure `.reason`, uv's
    own explanation in one line."""
    out = procs.run([uv_bin(), *args], timeout=timeout)
    out.reason = uv_error_line(out.stderr) if out.returncode else ""
    return out


def uv_error_line(stderr: str) -> str:
    """uv's reason in one line: the resolver's explanation, else its last error line."""
    lines = [ln.strip(" ×╰─▶│") .strip() for ln in stderr.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if "No solution found" in ln and i + 1 < len(lines):
            why = [x for x in lines[i + 1:] if not x.startswith("hint:")]
            return " ".join(why).removeprefix("cause: ")
    errors = [ln for ln in lines if ln.lower().startswith(("error", "failed", "because"))]
    return (errors or lines or ["uv failed without a message"])[-1]


# What an optional converter must never move: TF and the packages whose versions TF pins.
_FROZEN = {"tensorflow", "tensorflow-cpu", "tensorflow-intel", "keras", "tf-keras", "numpy",
           "protobuf", "h5py", "ml-dtypes", "tensorboard"}


class UvEnvironment(Environment):
    backend = "uv"

    def requested(self) -> dict:
        # The optional converters are part of the identity: an environment cached before they
        # were added (or with other pins) is rebuilt, not silently reused without them.
        return super().requested() | {"optional": self.spec.optional_requirements()}

    @property
    def path(self) -> Path:
        return self.cache_dir / "envs" / self.key

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def interpreter(self) -> Path:
        return self.path / "bin" / "python"

    def _base_python(self) -> str:
        return self.python or sys.executable

    def _python_version(self) -> str:
        if not self.python:
            return ".".join(map(str, sys.version_info[:3]))
        out = procs.run([self.python, "-c", "import platform;print(platform.python_version())"])
        if out.returncode:
            raise EnvError(f"--python {self.python}: cannot run it ({out.stderr.strip()[-200:]})")
        return out.stdout.strip()

    def check(self) -> None:
        self.spec.check_python(self._python_version())

    def create(self, progress=None) -> dict:
        info_file = self.path / "harness-env.json"
        self.check()
        with self.lock():
            if info_file.exists() and self.interpreter.exists():
                stored = json.loads(info_file.read_text())
                if stored.get("requested") == self.requested():
                    self.info = stored["resolved"]
                    return self.info
            if progress:
                reqs = " ".join(self.spec.requirements())
                progress(f"creating environment {self.spec.label} ({reqs})")
            shutil.rmtree(self.path, ignore_errors=True)
            try:
                self._install()
                optional = self._install_optional()
                self.info = self._query() | {"optional": optional}
            except BaseException:
                shutil.rmtree(self.path, ignore_errors=True)
                raise
            write_json(info_file, {"requested": self.requested(), "resolved": self.info})
        return self.info

    def _uv(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
        return run_uv(*args, timeout=timeout)

    def _install(self) -> None:
        out = self._uv("venv", "--quiet", "--python", self._base_python(), str(self.path))
        if out.returncode:
            raise EnvError(f"TF {self.spec.label}: uv venv failed: {uv_error_line(out.stderr)}")
        cmd = ["pip", "install", "--python", str(self.interpreter), *self.spec.requirements()]
        if self.as_of:
            cmd += ["--exclude-newer", self.as_of]
        out = self._uv(*cmd)
        if out.returncode:
            when = f" as of {self.as_of}" if self.as_of else ""
            reqs = " ".join(self.spec.requirements())
            raise EnvError(f"TF {self.spec.label}: cannot install {reqs}{when}: "
                           f"{uv_error_line(out.stderr)}")

    def _install_optional(self) -> dict[str, str]:
        """Each converter group on its own, with TF's own pins held fixed by a constraints
        file; returns group -> "installed" or the one-line reason it is not."""
        out = self._uv("pip", "freeze", "--python", str(self.interpreter))
        frozen = [ln for ln in out.stdout.splitlines()
                  if "==" in ln and ln.split("==")[0].strip().lower() in _FROZEN]
        status: dict[str, str] = {}
        with tempfile.TemporaryDirectory() as tmp:
            constraints = Path(tmp) / "constraints.txt"
            constraints.write_text("\n".join(frozen) + "\n")
            for group, reqs in self.spec.optional_requirements().items():
                cmd = ["pip", "install", "--python", str(self.interpreter),
                       "--constraint", str(constraints), *reqs]
                if self.as_of:
                    cmd += ["--exclude-newer", self.as_of]
                res = self._uv(*cmd)
                status[group] = "installed" if res.returncode == 0 else \
                    f"not installed: {' '.join(reqs)}: {uv_error_line(res.stderr)}"
        return status

    def _query(self) -> dict:
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "versions.json"
            out = procs.run([str(self.interpreter), "-I", str(QUERY), str(dest)], timeout=120)
            if out.returncode or not dest.exists():
                raise EnvError(f"TF {self.spec.label}: cannot query the new environment: "
                               f"{out.stderr.strip()[-300:]}")
            info = json.loads(dest.read_text())
        if not info.get("tf"):
            raise EnvError(f"TF {self.spec.label}: TensorFlow is not installed after the install")
        return info

    def remove(self) -> bool:
        with self.lock():
            existed = self.path.exists()
            shutil.rmtree(self.path, ignore_errors=True)
        return existed

    def gpu_unusable_reason(self) -> str | None:
        """Ask TF inside the environment whether it sees a GPU (a driver is not enough: the
        CUDA wheels must match it)."""
        from .. import procs

        probe = ("import tensorflow as tf; "
                 "print('GPUS', len(tf.config.list_physical_devices('GPU')))")
        out = procs.run([str(self.interpreter), "-I", "-c", probe], env=self.worker_env(),
                        timeout=300)
        found = [ln for ln in out.stdout.splitlines() if ln.startswith("GPUS ")]
        if out.returncode or not found:
            return f"cannot ask TF {self.spec.label} for GPUs: {out.stderr.strip()[-300:]}"
        if found[-1].split()[1] == "0":
            return (f"TF {self.info.get('tf') or self.spec.label} sees no GPU here "
                    "(tf.config.list_physical_devices('GPU') is empty)")
        return None

    def worker_command(self, batch_file: Path) -> list[str]:
        from .base import WORKER_MAIN

        return [str(self.interpreter), "-I", str(WORKER_MAIN), str(batch_file)]

    @classmethod
    def list_installed(cls, cache_dir: Path) -> list[dict]:
        rows = []
        for info_file in sorted((Path(cache_dir) / "envs").glob("*/harness-env.json")):
            stored = json.loads(info_file.read_text())
            rows.append({"key": info_file.parent.name, "path": str(info_file.parent),
                         **stored["requested"], **{f"resolved_{k}": v
                                                   for k, v in stored["resolved"].items()}})
        return rows
