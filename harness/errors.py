"""The one base class of errors that mean "bad input or an impossible request": the CLI prints
them as one line and exits 2.  Anything else is a bug: one line too, with the traceback saved."""

from __future__ import annotations


class HarnessError(Exception):
    pass


class UserError(HarnessError):
    """Bad input on the command line."""
