"""One module per `harness` subcommand: each has `add_parser(subparsers)` and `main(args)`.

A new command is a new module here; it is found automatically (modules starting with `_` and
`common` are not commands)."""

from __future__ import annotations

import pkgutil
from pathlib import Path

COMMANDS = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                  if not m.name.startswith("_") and m.name != "common")
