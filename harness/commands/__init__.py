"""One module per `harness` subcommand: each has `add_parser(subparsers)` and `main(args)`.

A new command is a new module here plus one name in COMMANDS."""

from __future__ import annotations

COMMANDS = ["run", "envs", "show"]
