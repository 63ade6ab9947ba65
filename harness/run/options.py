"""The run options every front shares, declared once: `harness run`, `try`, `fixtures verify`,
`migrate`, `inspect` (argparse) and the two pytest plugins (as `--compat-<name>`) take them
from this table, check them with `validate` (one line naming the bad value) and turn them into
RunOptions fields with `run_fields`."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError


def _cache_default() -> Path:
    from ..envs import default_cache_dir

    return default_cache_dir()


def _backends() -> list[str]:
    from ..envs import BACKENDS

    return sorted(BACKENDS)


@dataclass(frozen=True)
class Opt:
    name: str  # the long flag without dashes; the dest is its snake_case
    help: str
    type: Callable | None = None
    default: Any = None  # a callable is called when the parser is built
    metavar: str | None = None
    choices: Callable | None = None  # called when the parser is built

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    def kwargs(self) -> dict:
        out: dict = {"help": self.help, "dest": self.dest}
        default = self.default() if callable(self.default) else self.default
        if default is not None:
            out["default"] = default
        for key in ("type", "metavar"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.choices is not None:
            out["choices"] = self.choices()
        return out


OPTIONS = {o.name: o for o in (
    Opt("cache-dir", "where environments live (default: %(default)s; env HARNESS_CACHE)",
        Path, _cache_default),
    Opt("backend", "environment backend (default: %(default)s)", None, "uv",
        choices=_backends),
    Opt("as-of", "resolve packages as of DATE (YYYY-MM-DD; uv --exclude-newer)",
        metavar="DATE"),
    Opt("python", "uv: interpreter to build environments from (default: this one); docker: the "
        "base to build on (a suite such as bullseye, a Python version such as 3.9, an image "
        "such as python:3.9-slim, or tensorflow for the official images; default: the newest "
        "local base with wheels)", metavar="PATH"),
    Opt("cell-timeout", "seconds one cell may take (default: %(default)s)", float, 600.0,
        metavar="S"),
)}
ENV_OPTIONS = ("cache-dir", "backend", "as-of", "python")


def add_to_parser(p, names=ENV_OPTIONS) -> None:
    """Add the named options to an argparse parser, as `--<name>`."""
    for name in names:
        p.add_argument(f"--{name}", **OPTIONS[name].kwargs())


def add_to_pytest(parser, names, prefix: str = "compat-") -> None:
    """Add the named options to pytest, as `--<prefix><name>`, in one group of their own; both
    plugins call it, the options are added once."""
    done = parser.__dict__.setdefault("_harness_run_options", set())
    group = parser.getgroup("compat-run", "tf-compat-harness: the run options of `harness run`")
    for name in names:
        if name in done:
            continue
        done.add(name)
        kwargs = OPTIONS[name].kwargs()
        kwargs["dest"] = f"{prefix}{name}".replace("-", "_")
        group.addoption(f"--{prefix}{name}", **kwargs)


def from_pytest(config, names, prefix: str = "compat-"):
    """The named options' values from a pytest config, as the namespace `validate` and
    `run_fields` take."""
    import argparse

    return argparse.Namespace(**{OPTIONS[n].dest: config.getoption(f"--{prefix}{n}")
                                 for n in names})


def validate(args) -> None:
    """--as-of, --python, --cache-dir and --cell-timeout (every front that has them), checked
    before any environment is touched."""
    from ..plan.specs import parse_as_of

    timeout = getattr(args, "cell_timeout", None)
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UserError(f"--cell-timeout must be a number of seconds > 0, not {timeout:g}")
    if getattr(args, "as_of", None):
        parse_as_of(args.as_of, "--as-of")
    if getattr(args, "python", None) and getattr(args, "backend", "uv") == "uv":
        check_interpreter(args.python)
    if getattr(args, "cache_dir", None) is not None:
        writable_folder(args.cache_dir, "--cache-dir")


def run_fields(args) -> dict:
    """The RunOptions fields these option values set (those present in `args`)."""
    fields = {}
    for name, opt in OPTIONS.items():
        if hasattr(args, opt.dest):
            value = getattr(args, opt.dest)
            fields[opt.dest] = Path(value) if name == "cache-dir" and value else value
    if fields.get("cache_dir") is None and "cache_dir" in fields:
        fields["cache_dir"] = _cache_default()
    return fields


def check_interpreter(python: str) -> None:
    found = shutil.which(python)
    if found is None:
        if os.path.exists(python):
            raise UserError(f"--python {python}: not an executable file")
        raise UserError(f"--python {python}: no such interpreter (neither a file nor a command "
                        "on PATH)")


def writable_folder(path: Path, option: str) -> None:
    """`path` is a folder we can write in, or can be made one; nothing is left behind."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file, not a folder")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{option} {path}: {probe} is a file, not a folder")
    try:
        tempfile.TemporaryDirectory(dir=probe, prefix=".harness-probe-").cleanup()
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write in {probe} "
                        f"({exc.strerror or type(exc).__name__})") from None
