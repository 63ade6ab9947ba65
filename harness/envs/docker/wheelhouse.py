"""Wheels for an image's Python and platform, fetched on the host, so that a build never reaches
the network from inside.

Two steps, because each tool is good at one: uv resolves for the *target* (its
`--python-platform` evaluates every environment marker for the image's Python and glibc, where
`pip download --python-version` would evaluate markers for the host's Python and miss e.g.
`importlib-metadata; python_version < "3.10"`), and pip downloads the exact pins (`--no-deps`,
`--only-binary=:all:`, every manylinux tag the image's glibc accepts: pip does not expand a
PEP 600 `manylinux_2_31` tag to the older ones by itself).  uv ignores upper bounds of
`Requires-Python` (e.g. backports-strenum 1.3.1's `<3.11`, which ai-edge-litert pulls in on
3.11), so pip must too, when downloading and when installing: the lock is what uv would install.
The wheelhouse is shared by all builds for one Python/glibc; a build context hard-links only
the wheels its lock names.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ... import procs
from .images import ImageBuildError

UV_PLATFORMS = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)  # uv's x86_64-manylinux_2_X


def uv_platform(glibc: str) -> str:
    minor = int(glibc.split(".")[1])
    usable = [m for m in UV_PLATFORMS if m <= minor]
    if not usable:
        raise ImageBuildError(f"glibc {glibc} is older than manylinux2014 (2.17)")
    return f"x86_64-manylinux_2_{usable[-1]}"


def pip_platforms(glibc: str) -> list[str]:
    minor = int(glibc.split(".")[1])
    tags = [f"manylinux_2_{m}_x86_64" for m in range(minor, 16, -1)]
    return tags + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


def _uv(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    from ..uv import run_uv

    return run_uv(*args, timeout=timeout)


def resolve(requirements: list[str], constraints: list[str], python: str, glibc: str,
            as_of: str | None = None) -> list[str]:
    """Exact pins (`name==version`) of everything `requirements` needs on the target."""
    with tempfile.TemporaryDirectory(prefix="tfh-resolve-") as tmp:
        req = Path(tmp) / "requirements.in"
        req.write_text("\n".join(requirements) + "\n")
        cons = Path(tmp) / "constraints.txt"
        cons.write_text("\n".join(constraints) + "\n")
        lock = Path(tmp) / "requirements.txt"
        cmd = ["pip", "compile", "--quiet", "--no-header", "--no-annotate",
               "--python-version", python, "--python-platform", uv_platform(glibc),
               "--only-binary", ":all:", "-c", str(cons), str(req), "-o", str(lock)]
        if as_of:
            cmd += ["--exclude-newer", as_of]
        out = _uv(*cmd)
        if out.returncode and "no usable wheels" in out.stderr:
            # TF 2.5/2.6 need packages published only as (pure-Python) sdists: termcolor 1.1.0,
            # clang 5.0, wrapt 1.12.1.  Allow sdists; download() builds them into wheels.
            out = _uv(*[a for a in cmd if a not in ("--only-binary", ":all:")])
        if out.returncode:
            when = f" as of {as_of}" if as_of else ""
            raise ImageBuildError(f"cannot resolve {' '.join(requirements)} for Python {python} "
                                  f"(glibc {glibc}){when}: {out.reason}")
        pins = [ln.strip() for ln in lock.read_text().splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")]
    return pins


def _pip(tools_dir: Path) -> list[str]:
    """A pip to download with: this interpreter's, else one in a private venv made with uv."""
    if procs.run([sys.executable, "-m", "pip", "--version"]).returncode == 0:
        return [sys.executable, "-m", "pip"]
    venv = tools_dir / "pip-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        out = _uv("venv", "--quiet", "--python", sys.executable, str(venv))
        if out.returncode == 0:
            out = _uv("pip", "install", "--quiet", "--python", str(py), "pip")
        if out.returncode:
            raise ImageBuildError(f"cannot install pip to download wheels: {out.reason}")
    return [str(py), "-m", "pip"]


def wheel_name_matches(filename: str, pin: str) -> bool:
    name, version = pin.split("==", 1)
    norm = re.sub(r"[-_.]+", "_", name).lower()
    parts = filename.split("-")
    return (len(parts) >= 5 and re.sub(r"[-_.]+", "_", parts[0]).lower() == norm
            and parts[1] == version)


# wrapt's C extension is optional; without it the sdist builds a pure-Python wheel (the image
# has no compiler, so pip inside would have failed where this works).
SDIST_ENV = {"WRAPT_INSTALL_EXTENSIONS": "false"}


def _build_wheel(pip: list[str], pin: str, wheelhouse: Path, progress) -> None:
    """A pin that has only an sdist: build it on the host.  Only a pure-Python result
    (`py3-none-any`) can serve another Python, so anything else is refused."""
    if progress:
        progress(f"{pin} has no wheel: building it from its sdist on the host")
    with tempfile.TemporaryDirectory(prefix="tfh-sdist-") as tmp:
        out = procs.run([*pip, "wheel", "--quiet", "--no-deps", "--no-binary", ":all:",
                         "--disable-pip-version-check", "-w", tmp, pin], timeout=1800,
                        env=SDIST_ENV)
        built = list(Path(tmp).glob("*.whl"))
        if out.returncode or not built:
            raise ImageBuildError(f"{pin} has no wheel and its sdist does not build: "
                                  f"{out.stderr.strip()[-300:]}")
        for whl in built:
            if not whl.name.endswith("-none-any.whl"):
                raise ImageBuildError(f"{pin} has no wheel, and its sdist builds a "
                                      f"platform wheel ({whl.name}) that only fits the host")
            shutil.copy(whl, wheelhouse / whl.name)


def download(pins: list[str], python: str, glibc: str, wheelhouse: Path,
             tools_dir: Path, progress=None) -> list[Path]:
    """Download (or find already downloaded) a wheel for every pin; return their paths."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    have = [p.name for p in wheelhouse.glob("*.whl")]
    missing = [pin for pin in pins if not any(wheel_name_matches(f, pin) for f in have)]
    if missing:
        if progress:
            progress(f"downloading {len(missing)} wheel(s) for Python {python} "
                     f"(glibc {glibc}) into {wheelhouse}")
        py_tag = "".join(python.split(".")[:2])
        cmd = [*_pip(tools_dir), "download", "--quiet", "--disable-pip-version-check",
               "--no-deps", "--only-binary=:all:", "--ignore-requires-python",
               "--python-version", python,
               "--implementation", "cp", "--abi", f"cp{py_tag}", "-d", str(wheelhouse)]
        for tag in pip_platforms(glibc):
            cmd += ["--platform", tag]
        pip = cmd[:cmd.index("download")]
        while missing:
            out = procs.run([*cmd, *missing], timeout=3600)
            if not out.returncode:
                break
            lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
            m = re.search(r"No matching distribution found for (\S+)", out.stderr)
            if not m or m[1] not in missing:
                raise ImageBuildError(f"pip download for Python {python} failed: "
                                      f"{(lines or ['no message'])[-1].strip()}")
            _build_wheel(pip, m[1], wheelhouse, progress)
            missing.remove(m[1])
        have = [p.name for p in wheelhouse.glob("*.whl")]
    wheels = []
    for pin in pins:
        found = sorted(f for f in have if wheel_name_matches(f, pin))
        if not found:
            raise ImageBuildError(f"no wheel for {pin} in {wheelhouse} after downloading")
        wheels.append(wheelhouse / found[-1])
    return wheels
