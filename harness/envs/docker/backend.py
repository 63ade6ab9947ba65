"""The docker backend: one image per environment spec, the worker run in a container.

An image `tf-compat-harness/tf:<key>` is built from a base (by default a local Debian image made
by `harness images base`) with wheels fetched on the host, and reused while its stored request
(an image label) matches.  A worker container runs the very same `worker/main.py` as the uv
backend: the harness folder is mounted read-only, the run's folder at the same absolute path (so
the batch file's paths work unchanged), as the host user, with no network, a memory limit and a
wall-clock limit.  A container that dies or hangs is seen by execute.py like a local process.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from pathlib import Path

from ...plan.specs import TF_PYTHONS, SpecError
from ..base import WORKER_MAIN, EnvError, Environment, write_json
from . import images
from .build import INFO_PATH, Base, build_image
from .container import install_sigterm_handler
from .images import L_GLIBC, L_INTERP, L_KIND, L_OPTIONAL, L_PYTHON, L_REQUESTED, LABEL, SUITES

install_sigterm_handler()  # no worker container outlives a host process that was told to stop
HARNESS_DIR = WORKER_MAIN.parent.parent  # harness/, mounted read-only
IN_CONTAINER = "/opt/tf-compat-harness/harness"
MEMORY = os.environ.get("HARNESS_DOCKER_MEMORY", "8g")
# A container's own deadline, beyond execute.py's per-cell timeout: if the host process is
# killed outright, no worker container outlives it by more than this.
WORKER_LIMIT = int(os.environ.get("HARNESS_DOCKER_WORKER_LIMIT", "14400"))

# Pins that TF's own metadata lacks, found by installing and importing every version in an image
# (docs/docker.md): old TF declares `numpy>=1.20` with no upper bound, and numpy 2 breaks its
# import; TF <= 2.8 declares `protobuf>=3.9.2`, and protobuf >= 4 breaks its import.  They are
# part of the environment's request (and so of its key), and shown in run.json.
CONSTRAINTS: list[tuple[tuple[int, int], str]] = [
    ((2, 17), "numpy<2"),
    ((2, 8), "protobuf<3.20"),
]


def constraints_for(minor: tuple[int, int]) -> list[str]:
    return [c for upto, c in CONSTRAINTS if minor <= upto]


def _mm(version: str) -> str:
    return ".".join(version.split(".")[:2])


def local_bases() -> list[Base]:
    """Base images made by `harness images base`, newest Python first."""
    found = []
    for img in images.client().images.list(filters={"label": f"{L_KIND}=base"}):
        labels = img.labels or {}
        for tag in img.tags:
            if tag.startswith(images.BASE_REPO + ":"):
                found.append(Base("debian", tag, labels.get(L_PYTHON, ""),
                                  labels.get(L_GLIBC, "2.17"),
                                  labels.get(L_INTERP, "/usr/bin/python3"), img.id))
    return sorted(found, key=lambda b: tuple(int(x) for x in b.python.split(".")), reverse=True)


def choose_base(minor: tuple[int, int], choice: str | None) -> Base:
    """The base for a TF minor: `choice` is what the user gave as --python (a suite, a Python
    version, an image such as python:3.9-slim, or `tensorflow` for the official images); by
    default the local base with the newest Python that TF minor has wheels for."""
    if choice == "tensorflow" or (choice or "").startswith("tensorflow/tensorflow"):
        return Base("tensorflow", "tensorflow/tensorflow", "", "", "python3")
    if choice and (":" in choice or "/" in choice):
        m = re.match(r"^(?:docker\.io/)?(?:library/)?python:(\d+\.\d+)", choice)
        if not m:
            raise EnvError(f"--python {choice}: the docker backend builds on python:3.X images, "
                           "a suite (bullseye, bookworm, trixie) or `tensorflow`")
        # Debian-based python:3.X-slim images have glibc >= 2.28: wheels for manylinux_2_28
        return Base("image", choice, m[1], "2.28", "/usr/local/bin/python")
    bases = local_bases()
    if choice in SUITES:
        picked = [b for b in bases if b.ref.endswith(":" + choice)]
        if not picked:
            raise EnvError(f"no base image for {choice}: run `harness images base --suite "
                           f"{choice}` first")
        return picked[0]
    if choice:
        picked = [b for b in bases if _mm(b.python) == choice]
        if not picked:
            suites = [s for s, v in SUITES.items() if v["python"] == choice]
            hint = (f"run `harness images base --suite {suites[0]}`" if suites
                    else f"use --python python:{choice}-slim where a registry is reachable")
            raise EnvError(f"no local base image has Python {choice}: {hint}")
        return picked[0]
    wanted = TF_PYTHONS.get(minor, ())
    fitting = [b for b in bases if _mm(b.python) in wanted]
    if fitting:
        return fitting[0]
    if not bases:
        raise EnvError("no base image: run `harness images base --suite bullseye` (Python 3.9: "
                       "TF 2.5 to 2.20) or bookworm (Python 3.11: TF 2.12 and newer)")
    have = ", ".join(f"{b.ref} (Python {_mm(b.python)})" for b in bases)
    suites = [s for s, v in SUITES.items() if v["python"] in wanted]
    hint = f"; run `harness images base --suite {suites[0]}`" if suites else ""
    raise EnvError(f"TF {minor[0]}.{minor[1]} has wheels for Python {', '.join(wanted) or '?'};"
                   f" the local bases have {have}{hint}")


def gpu_unavailable_reason() -> str | None:
    """Why GPU containers cannot run on this engine, or None where they can."""
    info = images.client().info()
    runtimes = sorted((info.get("Runtimes") or {}).keys())
    if "nvidia" not in runtimes:
        return ("no GPU: the Docker engine has no NVIDIA container runtime (runtimes: "
                f"{', '.join(runtimes) or 'none'})")
    return None


class DockerEnvironment(Environment):
    backend = "docker"
    worker_is_child = False  # a container: the engine, not the host, is its parent

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._base: Base | None = None
        self._optional: dict[str, str] | None = None  # converter group -> status, at build
        self.build_seconds: float | None = None

    # -- identity --------------------------------------------------------------------------
    @property
    def base(self) -> Base:
        if self._base is None:
            self._base = choose_base(self.spec.minor, self.python)
        return self._base

    def requested(self) -> dict:
        # the base as resolved, not the --python words that chose it: `--python bullseye` and
        # the default choosing bullseye are one image
        return super().requested() | {"python": self.base.python, "base": self.base.describe(),
                                      "constraints": constraints_for(self.spec.minor),
                                      "optional": self.spec.optional_requirements()}

    @property
    def tag(self) -> str:
        return f"{images.TF_REPO}:{self.key}"

    @property
    def location(self) -> str:
        return self.tag

    def identity(self) -> dict:
        return super().identity() | {"image": self.tag, "image_id": self.info.get("image_id"),
                                     "base": self.base.ref, "python": self.info.get("python")}

    # -- creation --------------------------------------------------------------------------
    def check(self) -> None:
        images.client()  # one line where there is no engine
        if self.spec.minor not in TF_PYTHONS:
            self.spec.check_python("0.0")  # the spec's own "unknown TF" message
        base = self.base
        if base.python:
            # the image's Python, not the host's: this is how old TF joins the matrix
            self.spec.check_python(base.python)
        elif self.spec.legacy_keras and self.spec.minor < (2, 16):
            raise SpecError(f"{self.spec.label}: tf_keras is for TF >= 2.16")
        if self.spec.device == "gpu" and base.kind != "tensorflow" and self.spec.minor < (2, 14):
            raise EnvError(f"TF {self.spec.label} gpu: tensorflow[and-cuda] exists from TF 2.14; "
                           "use --python tensorflow for the official -gpu image")

    def gpu_absent_reason(self) -> str | None:
        return gpu_unavailable_reason()

    def create(self, progress=None) -> dict:
        self.check()
        with self.lock():
            image = images.local_image(self.tag)
            wanted = json.dumps(self.requested(), sort_keys=True)
            if image is None or (image.labels or {}).get(L_REQUESTED) != wanted:
                image = self._build(progress)
            self.info = self._image_info(image)
        return self.info

    def _build(self, progress):
        from . import wheelhouse

        base, reqs = self.base, self.spec.requirements()
        work = self.cache_dir / "docker"
        work.mkdir(parents=True, exist_ok=True)
        if base.kind == "tensorflow":
            version = self._official_version()
            base = Base("tensorflow", f"{base.ref}:{version}"
                        f"{'-gpu' if self.spec.device == 'gpu' else ''}", "", "", "python3")
            self._pull(base.ref, progress)
            image, secs = build_image(self.tag, base, self.requested(), extra=reqs[2:],
                                      progress=progress, work_dir=work)
        else:
            if base.kind == "image":
                self._pull(base.ref, progress)
            cons = constraints_for(self.spec.minor)
            if progress:
                progress(f"resolving {' '.join(reqs)} for Python {base.python} "
                         f"(glibc {base.glibc}){' with ' + ' '.join(cons) if cons else ''}")
            pins = wheelhouse.resolve(reqs, cons, base.python, base.glibc, self.as_of)
            pins, self._optional = self._resolve_optional(reqs, cons, pins, progress)
            house = work / "wheelhouse" / f"cp{base.python}-glibc{base.glibc}"
            wheels = wheelhouse.download(pins, base.python, base.glibc, house, work, progress)
            image, secs = build_image(self.tag, base, self.requested(), pins=pins, wheels=wheels,
                                      progress=progress, work_dir=work,
                                      more_labels={L_OPTIONAL: json.dumps(self._optional)})
        self.build_seconds = secs
        if progress:
            size = images.human_size(image.attrs["Size"])
            progress(f"built {self.tag} ({images.short_id(image)}, {size}) in {secs:.0f}s")
        return image

    def _resolve_optional(self, reqs, cons, pins, progress):
        """The uv backend's converter groups, one after another on top of what is there, with
        TF's own pins held fixed; a group that cannot resolve is left out with its reason."""
        from ..uv import _FROZEN
        from . import wheelhouse
        from .images import ImageBuildError

        base = self.base
        frozen = [p for p in pins if p.split("==")[0].lower() in _FROZEN]
        status, wanted = {}, list(reqs)
        for group, extra in self.spec.optional_requirements().items():
            try:
                got = wheelhouse.resolve(wanted + extra, cons + frozen, base.python, base.glibc,
                                         self.as_of)
            except ImageBuildError as exc:
                status[group] = f"not installed: {' '.join(extra)}: {str(exc)[-300:]}"
                continue
            pins, wanted = got, wanted + extra
            status[group] = "installed"
        if progress:
            progress("optional: " + ", ".join(f"{g} {s.split(':')[0]}"
                                              for g, s in status.items()))
        return pins, status

    def _official_version(self) -> str:
        if self.spec.tf.count(".") == 2:
            return self.spec.tf
        from .wheelhouse import resolve

        python = TF_PYTHONS[self.spec.minor][-1]
        pins = resolve([f"tensorflow=={self.spec.tf}.*"], [], python, "2.28", self.as_of)
        return next(p.split("==")[1] for p in pins if p.startswith("tensorflow=="))

    @staticmethod
    def _pull(ref: str, progress) -> None:
        if images.local_image(ref) is not None:
            return
        if progress:
            progress(f"pulling {ref} (needs a registry)")
        try:
            images.client().images.pull(ref)
        except Exception as exc:
            raise EnvError(f"cannot pull {ref}: {str(exc)[:300]}") from None

    def _image_info(self, image) -> dict:
        """Resolved versions, written inside the image at build time; cached by image id."""
        cache = self.cache_dir / "docker" / "info" / f"{image.id.split(':')[-1]}.json"
        if cache.exists():
            info = json.loads(cache.read_text())
        else:
            info = json.loads(read_file(image.id, INFO_PATH))
            if (image.labels or {}).get(L_OPTIONAL):
                info["optional"] = json.loads(image.labels[L_OPTIONAL])
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_json(cache, info)
        return info | {"image": self.tag, "image_id": image.id,
                       "base": self.base.ref, "interpreter": image.labels.get(L_INTERP)}

    def remove(self) -> bool:
        image = images.local_image(self.tag)
        if image is not None:
            images.client().images.remove(image.id, force=True)
        return image is not None

    @classmethod
    def list_installed(cls, cache_dir: Path) -> list[dict]:
        rows = []
        for img in images.client().images.list(filters={"label": f"{L_KIND}=tf"}):
            req = json.loads((img.labels or {}).get(L_REQUESTED, "{}"))
            info_file = Path(cache_dir) / "docker" / "info" / f"{img.id.split(':')[-1]}.json"
            info = json.loads(info_file.read_text()) if info_file.exists() else {}
            rows.append({"key": (img.tags or [images.short_id(img)])[0].split(":")[-1],
                         "path": (img.tags or [images.short_id(img)])[0], **req,
                         **{f"resolved_{k}": v for k, v in info.items()}})
        return rows

    # -- running ---------------------------------------------------------------------------
    def worker_command(self, batch_file: Path) -> list[str]:
        interp = self.info.get("interpreter") or "/opt/venv/bin/python"
        return [interp, "-I", f"{IN_CONTAINER}/worker/main.py", str(batch_file)]

    def container_env(self) -> dict[str, str]:
        env = {"PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
               "HOME": "/tmp"}
        if os.environ.get("HARNESS_WORKER_TEST_HOOKS"):
            env["HARNESS_WORKER_TEST_HOOKS"] = os.environ["HARNESS_WORKER_TEST_HOOKS"]
        return env | self.worker_env()

    def start_worker(self, batch_file: Path, log: Path):
        from .container import start_container

        batch = json.loads(Path(batch_file).read_text())
        paths = [Path(batch_file).parent, Path(log).parent, Path(batch["out_dir"])]
        for req in batch["requests"]:
            paths += [Path(req[k]) for k in ("artifact_dir", "reference_dir") if req.get(k)]
        paths += [Path(m) for m in batch.get("mounts") or []]  # what a streamed batch will need
        return start_container(
            image=self.tag, command=self.worker_command(batch_file), log=Path(log),
            paths=paths, code=(HARNESS_DIR, IN_CONTAINER), env=self.container_env(),
            memory=MEMORY, limit=WORKER_LIMIT, gpu=self.spec.device == "gpu",
            # Artifacts in a run folder may be hard links into the save cache, and a TF1
            # `checkpoint` state file names the cache's absolute paths: let them resolve as
            # they do on the host.
            read_only=[self.cache_dir / "saves"])


def read_file(image_id: str, path: str) -> bytes:
    """One file of an image, read from a created (never started) container: no process runs,
    and no log race (a short-lived container's stdout came back empty from the engine here)."""
    container = images.client().containers.create(image_id, ["true"], network_mode="none",
                                                  labels={LABEL: "1", L_KIND: "query"})
    try:
        chunks, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            return tar.extractfile(tar.getmembers()[0]).read()
    finally:
        container.remove(force=True)
