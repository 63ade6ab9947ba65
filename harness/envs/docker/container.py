"""A worker container, and its handle for execute.py (poll/kill/wait like a local process).

The container runs under docker-init (tini), so the worker is not PID 1: a worker that aborts
dies of SIGABRT as it would on the host, and the exit code 128+N is reported as -N, the way
`subprocess` reports a signal.  Its output goes straight to the host's log file (the log's folder
is mounted).  Every container is removed once it has exited; an atexit hook kills any still live.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
from pathlib import Path

from .images import L_KIND, LABEL, client

_live: set[ContainerHandle] = set()
started: list[str] = []  # ids of every worker container this process started (tests check them)
_live_lock = threading.Lock()


def mount_roots(paths: list[Path]) -> list[Path]:
    """The folders to mount for `paths`: their common folder, unless that is `/`; then each
    path not inside another."""
    paths = [p.resolve() for p in paths]
    common = Path(os.path.commonpath([str(p) for p in paths]))
    if common != Path("/"):
        return [common]
    roots: list[Path] = []
    for p in sorted(set(paths), key=lambda p: len(p.parts)):
        if not any(p.is_relative_to(r) for r in roots):
            roots.append(p)
    return roots


def as_returncode(status: int) -> int:
    """Container exit status -> subprocess-style return code (negative for a signal)."""
    if status > 128:
        try:
            signal.Signals(status - 128)
            return -(status - 128)
        except ValueError:
            pass
    return status


def start_container(*, image: str, command: list[str], log: Path, paths: list[Path],
                    code: tuple[Path, str], env: dict[str, str], memory: str, limit: int,
                    gpu: bool = False, read_only: list[Path] = ()) -> ContainerHandle:
    for p in paths:  # made by the host user, not by the engine as root
        p.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    volumes = {str(r): {"bind": str(r), "mode": "rw"} for r in mount_roots(paths + [log.parent])}
    volumes[str(code[0])] = {"bind": code[1], "mode": "ro"}
    roots = [Path(v) for v in volumes]
    for extra in read_only:  # beside, never over or under, a folder mounted read-write
        extra = extra.resolve()
        if extra.is_dir() and not any(extra.is_relative_to(r) or r.is_relative_to(extra)
                                      for r in roots):
            volumes[str(extra)] = {"bind": str(extra), "mode": "ro"}
    # `timeout` is the container's own deadline; the shell only redirects into the log.
    script = 'exec timeout -s KILL "$0" "$@" >>"$HARNESS_LOG" 2>&1'
    kwargs = dict(
        command=["sh", "-c", script, str(limit), *command], detach=True,
        environment=env | {"HARNESS_LOG": str(log)}, user=f"{os.getuid()}:{os.getgid()}",
        network_mode="none", mem_limit=memory, memswap_limit=memory, init=True,
        volumes=volumes, working_dir="/tmp", labels={LABEL: "1", L_KIND: "worker"})
    if gpu:
        import docker

        kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1,
                                                                capabilities=[["gpu"]])]
    container = client().containers.create(image, **kwargs)
    started.append(container.id)
    try:
        container.start()
    except Exception as exc:
        container.remove(force=True)
        with open(log, "a") as f:
            f.write(f"harness: the container did not start: {exc}\n")
        return ContainerHandle(None, log, failed=125)
    return ContainerHandle(container, log, memory=memory)


class ContainerHandle:
    """What execute.py needs of a worker: poll() -> int | None, kill(), wait(timeout).
    (No `pid` attribute: execute.py tells local processes from handles by it.)"""

    def __init__(self, container, log: Path, memory: str = "", failed: int | None = None):
        self.container = container
        self.log = log
        self.memory = memory
        self.returncode: int | None = failed
        self._done = threading.Event()
        if container is None:
            self._done.set()
            return
        with _live_lock:
            _live.add(self)
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        try:
            status = self.container.wait()["StatusCode"]
        except Exception as exc:  # the engine went away: the worker is as good as dead
            status = 125
            self._note(f"harness: lost the container: {type(exc).__name__}: {exc}")
        try:
            self.container.reload()
            if self.container.attrs["State"].get("OOMKilled"):
                self._note(f"harness: the container was killed for memory (limit {self.memory};"
                           " HARNESS_DOCKER_MEMORY sets it)")
        except Exception:
            pass
        self._remove()
        self.returncode = as_returncode(status)
        self._done.set()

    def _note(self, line: str) -> None:
        with open(self.log, "a") as f:
            f.write(line + "\n")

    def _remove(self) -> None:
        try:
            self.container.remove(force=True)
        except Exception:  # already gone
            pass
        with _live_lock:
            _live.discard(self)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise TimeoutError(f"container still running after {timeout} s")
        return self.returncode

    def kill(self) -> None:
        if self.container is None:
            return
        try:
            self.container.kill()
        except Exception:  # exited meanwhile
            pass
        if not self._done.wait(30):
            self._remove()


def kill_all() -> None:
    with _live_lock:
        handles = list(_live)
    for h in handles:
        h.kill()


def _on_sigterm(signum, frame) -> None:
    """A host process ended by SIGTERM runs no atexit hook: kill the containers, then die of
    the signal as it would have."""
    kill_all()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def install_sigterm_handler() -> None:
    """Called from the main thread (the docker backend's import); leaves a handler someone
    else installed alone."""
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL):
        signal.signal(signal.SIGTERM, _on_sigterm)


atexit.register(kill_all)
