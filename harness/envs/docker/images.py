"""Docker images for the docker backend: offline Debian base images, host-side wheelhouses and
per-spec TF images.  Only the docker backend and `harness images` import this package.

Names: base images are `tf-compat-harness/base:<suite>`, TF images `tf-compat-harness/tf:<key>`
(the key is the environment key, a hash of what was asked for).  Every image and container the
harness makes carries the label `tf-compat-harness=1`, so `harness images prune` and the tests
find them and nothing else.
"""

from __future__ import annotations

import os

from ...errors import HarnessError

BASE_REPO = "tf-compat-harness/base"
TF_REPO = "tf-compat-harness/tf"
LABEL = "tf-compat-harness"  # value "1" on everything we make
L_KIND = "tf-compat-harness.kind"  # base | tf | build-stage
L_PYTHON = "tf-compat-harness.python"  # full Python version inside
L_INTERP = "tf-compat-harness.interpreter"  # the interpreter the worker runs with
L_GLIBC = "tf-compat-harness.glibc"
L_SUITE = "tf-compat-harness.suite"
L_REQUESTED = "tf-compat-harness.requested"  # JSON: decides reuse of a TF image
L_OPTIONAL = "tf-compat-harness.optional"  # JSON: converter group -> installed or why not

# Debian suites `harness images base` knows: Python and glibc of each (Debian's own packages).
SUITES = {
    "bullseye": {"python": "3.9", "glibc": "2.31"},
    "bookworm": {"python": "3.11", "glibc": "2.36"},
    "trixie": {"python": "3.13", "glibc": "2.41"},
}


class DockerUnavailable(HarnessError, RuntimeError):
    """No Docker engine to talk to (or no docker package): the message says which."""


class ImageBuildError(HarnessError, RuntimeError):
    """A build failed: the message names the failing step and its last lines."""


_client = None


def client():
    """One shared Docker SDK client; a one-line reason where there is no engine."""
    global _client
    if _client is not None:
        return _client
    try:
        import docker
    except ImportError:
        raise DockerUnavailable("the docker backend needs the Docker SDK for Python: "
                                "pip install 'tf-compat-harness[docker]'") from None
    try:
        c = docker.from_env(timeout=int(os.environ.get("HARNESS_DOCKER_API_TIMEOUT", "600")))
        c.ping()
    except Exception as exc:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise DockerUnavailable(f"no Docker engine at {host}: {type(exc).__name__}: "
                                f"{str(exc)[:200]}") from None
    _client = c
    return c


def engine_reason() -> str | None:
    """None where a Docker engine answers, else why not (for test skips)."""
    try:
        client()
    except DockerUnavailable as exc:
        return str(exc)
    return None


def local_image(ref: str):
    """The local image `ref`, or None."""
    import docker

    try:
        return client().images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def short_id(image) -> str:
    return image.id.split(":")[-1][:12]


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"
