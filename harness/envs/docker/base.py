"""`harness images base --suite S`: a minimal Debian root filesystem with Debian's own Python,
made by debootstrap into a folder and `docker import`ed, so the harness works on an engine that
has no images and reaches no registry."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from ... import procs
from .images import (
    BASE_REPO,
    L_GLIBC,
    L_INTERP,
    L_KIND,
    L_PYTHON,
    L_SUITE,
    LABEL,
    SUITES,
    ImageBuildError,
    client,
    local_image,
    short_id,
)

MIRROR = os.environ.get("HARNESS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# python3-venv brings ensurepip's pip wheel: TF images install into /opt/venv with it.
PACKAGES = ("python3", "python3-venv")
# Documentation, manuals and translations are a third of a minbase system and useless here.
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "var/cache/apt/archives",
        "var/lib/apt/lists")


def base_ref(suite: str) -> str:
    return f"{BASE_REPO}:{suite}"


def _dpkg_version(root: Path, package_re: str) -> str | None:
    status = (root / "var/lib/dpkg/status").read_text(errors="replace")
    for block in status.split("\n\n"):
        name = re.search(r"^Package: (.+)$", block, re.M)
        ver = re.search(r"^Version: (.+)$", block, re.M)
        if name and ver and re.fullmatch(package_re, name[1].strip()):
            return ver[1].strip()
    return None


def _upstream(version: str) -> str:
    """Debian's `3.9.2-1` or `2.31-13+deb11u11` -> `3.9.2` / `2.31`."""
    return re.match(r"^(?:\d+:)?([\d.]+)", version)[1]


def _debootstrap(suite: str, root: Path, log: Path, progress) -> None:
    if not shutil.which("debootstrap"):
        raise ImageBuildError("debootstrap is not installed (Debian/Ubuntu: apt-get install "
                              "debootstrap)")
    if os.geteuid() != 0:
        raise ImageBuildError("debootstrap needs root to make device nodes and set owners: "
                              "run `sudo harness images base ...`")
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", suite,
           str(root), MIRROR]
    proc = procs.start(cmd, env=None, log=log)
    seen = 0
    while proc.poll() is None:
        time.sleep(1)
        seen = _show_new_lines(log, seen, progress)
    _show_new_lines(log, seen, progress)
    if proc.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ImageBuildError(f"debootstrap {suite} failed (exit {proc.returncode}); "
                              f"last lines:\n{tail}")


def _show_new_lines(log: Path, seen: int, progress) -> int:
    lines = log.read_text(errors="replace").splitlines()
    for line in lines[seen:]:
        if progress and line.startswith(("I: Retrieving", "I: Validating", "I: Installing",
                                         "I: Configuring", "I: Base system", "I: Unpacking",
                                         "E:", "W:")):
            if "Retrieving" in line or "Validating" in line:
                continue  # one per package: too many; the phases are enough
            progress(f"debootstrap: {line[3:]}")
    return len(lines)


def make_base(suite: str, progress=None, work_dir: Path | None = None, force: bool = False):
    """Make (or keep) `tf-compat-harness/base:<suite>`; return the image."""
    if suite not in SUITES:
        raise ImageBuildError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    ref = base_ref(suite)
    existing = local_image(ref)
    if existing is not None and not force:
        if progress:
            progress(f"{ref} exists ({short_id(existing)}); --force to make it anew")
        return existing
    with tempfile.TemporaryDirectory(prefix=f"tfh-rootfs-{suite}-", dir=work_dir) as tmp:
        root = Path(tmp) / "rootfs"
        if progress:
            progress(f"debootstrap {suite} (minbase + {' '.join(PACKAGES)}) from {MIRROR}")
        _debootstrap(suite, root, Path(tmp) / "debootstrap.log", progress)
        for rel in TRIM:
            for p in (root / rel).glob("*"):
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        locale = root / "usr/share/locale"
        for p in locale.glob("*"):
            if p.is_dir():
                shutil.rmtree(p)
        py = _dpkg_version(root, r"python3\.\d+")
        libc = _dpkg_version(root, r"libc6")
        if not py or not libc:
            raise ImageBuildError(f"{suite}: no python3.X or libc6 in the new root filesystem")
        tar = Path(tmp) / "rootfs.tar"
        out = procs.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(tar), "."])
        if out.returncode:
            raise ImageBuildError(f"tar of the {suite} root filesystem failed: "
                                  f"{out.stderr.strip()[-300:]}")
        if progress:
            progress(f"docker import {ref} ({tar.stat().st_size / 1e6:.0f} MB)")
        labels = {LABEL: "1", L_KIND: "base", L_SUITE: suite, L_PYTHON: _upstream(py),
                  L_GLIBC: _upstream(libc), L_INTERP: "/usr/bin/python3"}
        changes = ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "ENV LANG=C.UTF-8", 'CMD ["python3"]',
                   *(f'LABEL "{k}"="{v}"' for k, v in labels.items())]
        repo, tag = ref.split(":")
        client().api.import_image(src=str(tar), repository=repo, tag=tag, changes=changes)
    image = local_image(ref)
    if image is None:
        raise ImageBuildError(f"docker import of {ref} reported success but the image is missing")
    return image
