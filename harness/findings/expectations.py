"""Known incompatibilities (matrix/expectations.toml) and the check of a run against them.

Each `[[expect]]` entry is a cell pattern, the status such cells have, why, and where upstream
says so.  Pattern keys are cell fields (save_tf, load_tf, save_device, load_device, model, format,
loader); each value is a glob (harness.plan.globs: the same dialect as the matrix's [[exclude]]) or
a
list of globs, any of which may match.  A key left out matches
anything.  The first entry that matches a cell wins, so a narrow exception goes above the broad
rule it carves out of.  A cell no entry matches is expected to `pass` or be `unsupported`; an
`unsupported` cell never fails the check, whatever entry matches it.

    [[expect]]
    save_tf = ["2.1[2-5]", "2.1[2-5].*"]
    load_tf = ["2.1[6-9]", "2.2?"]
    model = "rnn"
    format = "h5"
    status = "load-error"
    reason = "Keras 3's LSTM has no time_major argument, which Keras 2 wrote into the config"
    link = "https://github.com/keras-team/keras/issues/20750"

The pytest plugin uses `load(path).match(cell)`; `harness check` uses `check_cells`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..plan import globs
from ..vocab import Status

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PATTERN_KEYS = ("save_tf", "load_tf", "save_device", "load_device", "model", "format", "loader")
ENTRY_KEYS = ("status", "reason", "link")
STATUSES = tuple(s.value for s in Status)
# Statuses a cell may have without any entry: it works, or it cannot exist there.
FINE_WITHOUT_ENTRY = (Status.PASS.value, Status.UNSUPPORTED.value)
DEFAULT_PATH = Path("matrix/expectations.toml")


@dataclass(frozen=True)
class Expectation:
    pattern: dict[str, tuple[str, ...]]
    status: str
    reason: str
    link: str | None = None
    index: int = 0  # 1-based position in the file: "entry #3"

    def matches(self, cell: dict) -> bool:
        for key, patterns in self.pattern.items():
            value = cell.get(key)
            if value is None and key.endswith("_device"):
                value = "cpu"  # rows and plans without a device axis ran on the default device
            if value is None or not globs.matches_any(str(value), patterns):
                return False
        return True

    def describe(self) -> str:
        pat = ", ".join(f"{k}={'|'.join(v)}" for k, v in self.pattern.items()) or "every cell"
        return f"entry #{self.index} ({pat} -> {self.status})"


@dataclass
class Expectations:
    entries: list[Expectation] = field(default_factory=list)
    path: Path | None = None

    def match(self, cell: dict) -> Expectation | None:
        for entry in self.entries:
            if entry.matches(cell):
                return entry
        return None


def _globs(where: str, key: str, value) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise UserError(f"{where}: {key} must be a glob or a list of globs, not {value!r}")


def parse(data: dict, source: str = "expectations") -> Expectations:
    unknown_top = set(data) - {"expect"}
    if unknown_top:
        raise UserError(f"{source}: unknown top-level key {sorted(unknown_top)[0]!r} "
                        "(entries are [[expect]] tables)")
    raw = data.get("expect", [])
    if not isinstance(raw, list):
        raise UserError(f"{source}: 'expect' must be an array of tables ([[expect]])")
    entries = []
    for i, item in enumerate(raw, 1):
        where = f"{source}: entry #{i}"
        if not isinstance(item, dict):
            raise UserError(f"{where} is not a table")
        unknown = set(item) - set(PATTERN_KEYS) - set(ENTRY_KEYS)
        if unknown:
            raise UserError(f"{where}: unknown key {sorted(unknown)[0]!r} "
                            f"(pattern keys: {', '.join(PATTERN_KEYS)}; and status, reason, link)")
        status = item.get("status")
        if status not in STATUSES:
            raise UserError(f"{where}: status must be one of {', '.join(STATUSES)}, "
                            f"not {status!r}")
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise UserError(f"{where}: a reason is required (what breaks and why)")
        link = item.get("link")
        if link is not None and not isinstance(link, str):
            raise UserError(f"{where}: link must be a string")
        pattern = {k: _globs(where, k, item[k]) for k in PATTERN_KEYS if k in item}
        entries.append(Expectation(pattern=pattern, status=status, reason=reason.strip(),
                                   link=link or None, index=i))
    return Expectations(entries)


def load(path: str | Path) -> Expectations:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no expectations file at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}") from None
    exps = parse(data, str(path))
    exps.path = path
    return exps


# --- checking a run ---------------------------------------------------------------------------

OK, EXPECTED, NEW, FIXED, CHANGED = "ok", "expected", "new", "fixed", "changed"
FAILING = (NEW, FIXED, CHANGED)


@dataclass
class Verdict:
    cell: dict
    kind: str  # ok | expected | new | fixed | changed
    expectation: Expectation | None

    @property
    def failing(self) -> bool:
        return self.kind in FAILING


def judge(cell: dict, exps: Expectations) -> Verdict:
    exp = exps.match(cell)
    status = cell.get("status")
    if exp is None:
        return Verdict(cell, OK if status in FINE_WITHOUT_ENTRY else NEW, None)
    if status == Status.UNSUPPORTED.value and exp.status != status:
        # the API or artifact does not exist there: never a failure, so a broad entry ("Keras 2
        # cannot read Keras 3 .h5") need not list the models the format does not apply to
        return Verdict(cell, OK, exp)
    if status == exp.status:
        return Verdict(cell, EXPECTED, exp)
    if status == Status.PASS.value:
        return Verdict(cell, FIXED, exp)
    return Verdict(cell, CHANGED, exp)


def check_cells(cells: list[dict], exps: Expectations) -> list[Verdict]:
    return [judge(c, exps) for c in cells]


def unused(exps: Expectations, verdicts: list[Verdict]) -> list[Expectation]:
    """Entries no cell of the run matched: stale, or outside what this run covered."""
    used = {v.expectation.index for v in verdicts if v.expectation is not None}
    return [e for e in exps.entries if e.index not in used]


# --- drafting entries for cells no entry explains ---------------------------------------------

def _toml_value(value) -> str:
    import json

    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _one_or_list(values) -> str | list[str]:
    values = list(dict.fromkeys(values))
    return values[0] if len(values) == 1 else values


def draft_entries(cells: list[dict], with_devices: bool = False) -> list[dict]:
    """Entries that would make these cells expected: cells that differ only in model, then only
    in save version, then only in load version are folded into one entry with a list."""
    from ..results.view import error_summary

    fields = ["format", "loader", "status"] + (["save_device", "load_device"] if with_devices
                                               else [])
    by_cell: dict[tuple, dict] = {}
    for c in cells:
        key = (tuple(c.get(f) for f in fields), c.get("save_tf"), c.get("load_tf"))
        entry = by_cell.setdefault(key, {"models": [], "errors": []})
        entry["models"].append(c.get("model"))
        summary = error_summary(c)
        if summary and summary not in entry["errors"]:
            entry["errors"].append(summary)
    # fold save versions: same fields, load version, models -> one entry, several save versions
    folded: dict[tuple, dict] = {}
    for (rest, save, load), e in by_cell.items():
        key = (rest, load, tuple(sorted(set(e["models"]))))
        f = folded.setdefault(key, {"save": [], "errors": []})
        f["save"].append(save)
        f["errors"] += [x for x in e["errors"] if x not in f["errors"]]
    folded2: dict[tuple, dict] = {}
    for (rest, load, models), e in folded.items():
        key = (rest, tuple(e["save"]), models)
        f = folded2.setdefault(key, {"load": [], "errors": []})
        f["load"].append(load)
        f["errors"] += [x for x in e["errors"] if x not in f["errors"]]
    out = []
    for (rest, saves, models), e in folded2.items():
        values = dict(zip(fields, rest, strict=True))
        entry = {"save_tf": _one_or_list(saves), "load_tf": _one_or_list(e["load"])}
        if with_devices:
            entry |= {"save_device": values["save_device"], "load_device": values["load_device"]}
        entry |= {"model": _one_or_list(models), "format": values["format"],
                  "loader": values["loader"], "status": values["status"],
                  "reason": "; ".join(e["errors"][:2]) or f"now {values['status']}",
                  "link": ""}
        out.append(entry)
    return out


def to_toml(entries: list[dict]) -> str:
    blocks = []
    for entry in entries:
        lines = ["[[expect]]"]
        for key, value in entry.items():
            if key == "reason":
                lines.append("# reason: rewrite from the error below; link: an upstream issue")
            lines.append(f"{key} = {_toml_value(value)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
