"""Upgrade advice from a run's real cells: for an upgrade from TF A to TF B, per format and loader,
what stops working on artifacts saved under A once they are loaded under B, and what works
instead (another loader of the same artifact, else another format to re-save in under A).
Artifacts saved under B and read back under A (a rollback, or a mixed fleet) get a short section
of their own.  Nothing here is hard-coded: every line comes from the cells of the run."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import artifact_changes
from .errors import UserError
from .reports.run_view import NOT_APPLICABLE, RunView, error_summary, version_key
from .results import read_rows


def _labels_of(view: RunView) -> tuple[set[str], set[str]]:
    return set(view.df["save_tf"]), set(view.df["load_tf"])


def _resolved_tf(info: dict) -> dict[str, str]:
    return {label: str((env.get("resolved") or {}).get("tf") or "")
            for label, env in (info.get("environments") or {}).items()}


def resolve_label(query: str, labels: set[str], resolved: dict[str, str]) -> str | None:
    """The run's label for a version the user typed: the label itself ("2.16", "2.16+tf_keras"),
    or a plain label whose resolved TF is that version or a patch of it ("2.16.2" -> "2.16")."""
    if query in labels:
        return query
    found = [lb for lb in labels if resolved.get(lb) == query
             or resolved.get(lb, "").startswith(query + ".") or lb.startswith(query + ".")]
    plain = [lb for lb in found if "+" not in lb]
    found = plain or found
    if len(found) > 1:
        raise UserError(f"TF {query} is ambiguous in this run: {', '.join(sorted(found))}")
    return found[0] if found else None


def find_run(results_dir: Path, old: str, new: str) -> Path:
    """The newest run under results_dir that saved under `old` and loaded under `new`."""
    runs = [p.parent for p in Path(results_dir).glob("*/run.json")]
    runs.sort(key=lambda p: (p / "run.json").stat().st_mtime, reverse=True)
    for run in runs:
        try:
            info = json.loads((run / "run.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        m = info.get("matrix") or {}
        saves, loads = set(m.get("save") or []), set(m.get("load") or [])
        resolved = _resolved_tf(info)
        try:
            a, b = resolve_label(old, saves, resolved), resolve_label(new, loads, resolved)
        except UserError:
            continue
        # a run still at its save phase (or killed early) has no cell in that direction yet
        if a and b and any(r.get("save_tf") == a and r.get("load_tf") == b
                           for r in read_rows(run / "cells.jsonl")):
            return run
    raise UserError(f"no run under {results_dir} saved under TF {old} and loaded under TF {new}; "
                    f"run: harness run --save {old},{new} --load {old},{new}")


def minor(label: str) -> str:
    """"2.16" of "2.16", "2.16.1" or "2.16+tf_keras"."""
    return ".".join(label.partition("+")[0].split(".")[:2])


@dataclass
class LegacyFix:
    """Legacy Keras (tf_keras) under the new TF loads what its Keras 3 cannot."""

    old: str
    new: str
    legacy: str  # the run's environment label, "2.16+tf_keras"
    fmt: str
    loader: str
    models: list[str]

    @property
    def how(self) -> str:
        return f"`pip install tf_keras~={minor(self.new)}` and `TF_USE_LEGACY_KERAS=1`"

    @property
    def cited(self) -> str:
        return (f"{self.old} -> {self.legacy} {self.fmt} `{self.loader}` passes for "
                f"{', '.join(self.models)}, where {self.old} -> {self.new} fails")

    def line(self) -> str:
        return f"legacy Keras: {self.how} ({self.cited})"


@dataclass
class LoaderAdvice:
    fmt: str
    loader: str
    verdict: str  # works | new | fixed | breaks | silent | never | unavailable | partial
    broken: list[str] = field(default_factory=list)  # models that fail after the upgrade
    errors: list[str] = field(default_factory=list)
    instead: list[str] = field(default_factory=list)
    passed: int = 0
    total: int = 0
    max_diff: float | None = None
    unsaved: list[str] = field(default_factory=list)  # models the old version could not save


# Loaders that read the stored values, not a model: a way to rescue weights, named as such.
RAW_READERS = {"h5py.File": " (reads the weights, not a model)",
               "tf.train.load_checkpoint": " (reads the values, not a model)"}


MAX_RESAVE_HINTS = 2  # other formats to re-save in, in the vocabulary's order


class Advisor:
    def __init__(self, view: RunView, old: str, new: str):
        self.view = view
        saves, loads = _labels_of(view)
        resolved = _resolved_tf(view.info)
        self.old = resolve_label(old, saves, resolved)
        self.new = resolve_label(new, loads, resolved)
        known = ", ".join(sorted(saves | loads, key=version_key))
        if self.old is None:
            raise UserError(f"TF {old} was not a save version of run {view.run_id} "
                            f"(versions: {known})")
        if self.new is None:
            raise UserError(f"TF {new} was not a load version of run {view.run_id} "
                            f"(versions: {known})")
        self._index = view.cell_index

    @property
    def legacy(self) -> str | None:
        """The run's legacy-Keras variant of the new version ("2.16+tf_keras"), if it loaded
        artifacts saved under the old one."""
        label = f"{self.new}+tf_keras"
        if "+" in self.new or not any(k[:2] == (self.old, label) for k in self._index):
            return None
        return label

    def legacy_fix(self, fmt: str, loader: str, models: list[str]) -> LegacyFix | None:
        """The legacy-Keras route, when its cells pass for every model that fails under the new
        version's own Keras (and the same loader)."""
        if not self.legacy or not models:
            return None
        cells = self.cells(self.old, self.legacy, fmt, loader)
        if not all(cells.get(m, {}).get("status") == "pass" for m in models):
            return None
        return LegacyFix(self.old, self.new, self.legacy, fmt, loader, list(models))

    def cells(self, save: str, load: str, fmt: str, loader: str) -> dict[str, dict]:
        return self._index.get((save, load, fmt, loader), {})

    def version_text(self, label: str) -> str:
        for env in self.view.environments():
            if env["label"] == label:
                keras = env.get("keras")
                if env.get("tf_keras"):
                    keras = f"{keras}, tf_keras {env['tf_keras']}"
                return f"TF {label} (tf {env.get('tf')}, keras {keras})"
        return f"TF {label}"

    def _passing_loaders(self, save: str, load: str, fmt: str, models: list[str]):
        """Loaders of fmt that pass save->load for every one of `models`, with how many."""
        out = []
        for loader in self.view.loaders(fmt):
            cells = self.cells(save, load, fmt, loader)
            ok = [m for m in models if m in cells and cells[m]["status"] == "pass"]
            if ok and len(ok) == len(models):
                out.append(loader)
        return out

    def loader_advice(self, fmt: str, loader: str) -> LoaderAdvice | None:
        after = self.cells(self.old, self.new, fmt, loader)
        if not after:
            return None
        before = self.cells(self.old, self.old, fmt, loader)
        adv = LoaderAdvice(fmt, loader, "works")
        # a save-error is the save side's problem, not the upgrade's: noted, not judged
        adv.unsaved = [m for m in self.view.models
                       if after.get(m, {}).get("status") == "save-error"]
        applicable = {m: c for m, c in after.items()
                      if c["status"] not in NOT_APPLICABLE and c["status"] != "save-error"}
        before_ok = {m for m, c in before.items() if c["status"] == "pass"}
        before_tried = {m for m, c in before.items()
                        if c["status"] not in NOT_APPLICABLE and c["status"] != "save-error"}
        adv.total = len(applicable)
        adv.passed = sum(c["status"] == "pass" for c in applicable.values())
        diffs = [c["max_abs_diff"] for c in applicable.values()
                 if c["status"] == "pass" and c.get("max_abs_diff") is not None]
        adv.max_diff = max(diffs) if diffs else None
        failing = {m: c for m, c in applicable.items() if c["status"] != "pass"}
        if not applicable:
            adv.verdict = "unsaved" if adv.unsaved else "unavailable"
            return adv
        if not failing:
            if before and not before_tried:
                adv.verdict = "new"
            elif before and not set(applicable) <= before_ok:
                adv.verdict = "fixed"
            return adv
        adv.broken = [m for m in self.view.models if m in failing]
        adv.errors = [e for e, _ in Counter(error_summary(c) for c in failing.values())
                      .most_common(3)]
        if any(failing[m]["status"] == "mismatch" for m in adv.broken):
            adv.verdict = "silent"
        elif before_ok & set(adv.broken):
            adv.verdict = "breaks"
        elif before:
            adv.verdict = "never"
        else:
            adv.verdict = "fails"  # the run has no old->old cells to compare with
        adv.instead = self._instead(fmt, loader, adv.broken)
        return adv

    def _instead(self, fmt: str, loader: str, models: list[str]) -> list[str]:
        legacy = self.legacy_fix(fmt, loader, models)
        same = [lo for lo in self._passing_loaders(self.old, self.new, fmt, models) if lo != loader]
        out = [legacy.line()] if legacy else []
        out += [f"`{lo}`{RAW_READERS.get(lo, '')} loads the same {fmt} artifacts under "
                f"{self.new} ({', '.join(models)})" for lo in same]
        if any(lo not in RAW_READERS for lo in same):
            return out
        for lo in self.view.loaders(fmt):
            cells = self.cells(self.old, self.new, fmt, lo)
            ok = [m for m in models if cells.get(m, {}).get("status") == "pass"]
            if lo != loader and ok and lo not in same:
                rest = [m for m in models if m not in ok]
                out.append(f"`{lo}`{RAW_READERS.get(lo, '')} loads the same artifacts for "
                           f"{', '.join(ok)} (not {', '.join(rest)})")
        resaves = 0
        for other in self.view.formats:
            if other == fmt:
                continue
            for lo in self._passing_loaders(self.old, self.new, other, models):
                if lo in RAW_READERS:
                    continue
                still = self._passing_loaders(self.new, self.new, other, models)
                tail = "" if lo in still else f" (but not for artifacts saved under {self.new})"
                out.append(f"re-save under {self.old} as {other}, load with `{lo}`{tail}")
                resaves += 1
                break
            if resaves == MAX_RESAVE_HINTS:
                break
        return out or [f"nothing in this run loads these models' {self.old} artifacts under "
                       f"{self.new}"]

    def back_summary(self, fmt: str) -> str | None:
        """One line: which loaders read artifacts saved under the new version in the old one."""
        works, fails = [], []
        for loader in self.view.loaders(fmt):
            cells = self.cells(self.new, self.old, fmt, loader)
            applicable = [c for c in cells.values()
                          if c["status"] not in NOT_APPLICABLE and c["status"] != "save-error"]
            if not applicable:
                continue
            ok = sum(c["status"] == "pass" for c in applicable)
            (works if ok == len(applicable) else fails).append(f"`{loader}` {ok}/{len(applicable)}")
        if not works and not fails:
            return None
        return (f"{fmt}: works: {', '.join(works) or 'none'}"
                + (f"; fails: {', '.join(fails)}" if fails else ""))


def legacy_summary(advisor: Advisor) -> list[str]:
    """What the legacy-Keras route fixes in this run, in one paragraph (or nothing)."""
    fixes = []
    for fmt in advisor.view.formats:
        for loader in advisor.view.loaders(fmt):
            a = advisor.loader_advice(fmt, loader)
            if a and a.broken and (fix := advisor.legacy_fix(fmt, loader, a.broken)):
                fixes.append(fix)
    if not fixes:
        return []
    fmts = ", ".join(dict.fromkeys(f.fmt for f in fixes))
    cells = sum(len(f.models) for f in fixes)
    return [f"Legacy Keras: {fixes[0].how} loads what Keras 3 cannot: {len(fixes)} loader(s) "
            f"of {fmts}; {cells} cell(s) {advisor.old} -> {fixes[0].legacy} pass where "
            f"{advisor.old} -> {advisor.new} fail (below: \"legacy Keras\")", ""]


LABELS = {
    "works": "ok", "new": "NEW", "fixed": "FIXED", "breaks": "BREAKS", "silent": "WRONG",
    "never": "never", "fails": "FAILS", "unavailable": "n/a", "unsaved": "n/a",
}
EXPLAIN = {
    "works": "loads {old} artifacts under {new}",
    "new": "new in {new} (did not exist in {old}); loads {old} artifacts",
    "fixed": "now loads {old} artifacts that {old} itself could not load",
    "breaks": "worked under {old}, fails under {new} for {models}",
    "silent": "loads WITHOUT an error under {new} but the parameters or predictions differ "
              "for {models}: silently wrong",
    "never": "did not load these artifacts under {old} either; fails under {new} for {models}",
    "fails": "fails under {new} for {models}",
    "unavailable": "does not exist for these artifacts under {new}",
    "unsaved": "nothing to load: {old} could not save this format",
}


def render(advisor: Advisor) -> str:
    old, new = advisor.old, advisor.new
    view = advisor.view
    lines = [f"Upgrading {advisor.version_text(old)} -> {advisor.version_text(new)}",
             f"from run {view.path} ({view.date}; models: {', '.join(view.models)})", ""]
    lines += legacy_summary(advisor)
    for fmt in view.formats:
        advice = [a for lo in view.loaders(fmt) if (a := advisor.loader_advice(fmt, lo))]
        if not advice:
            continue
        lines.append(f"{fmt}")
        for a in advice:
            text = EXPLAIN[a.verdict].format(old=old, new=new, models=", ".join(a.broken))
            if a.verdict in ("works", "new", "fixed") and a.total:
                diff = f", max |diff| {a.max_diff:.1e}" if a.max_diff else ""
                text += f" ({a.passed}/{a.total} cells{diff})"
            lines.append(f"  {LABELS[a.verdict]:<7}{a.loader}: {text}")
            for err in a.errors[:2]:
                lines.append(f"           {err}")
            if a.unsaved and a.verdict != "unsaved":
                lines.append(f"           ({', '.join(a.unsaved)}: {old} could not save this "
                             "format)")
            for alt in a.instead:
                lines.append(f"           instead: {alt}")
            if a.broken and is_native(a.loader):
                from .migrate.hints import migrate_hint

                hint = migrate_hint(fmt, old, new, "ARTIFACT")
                if hint:
                    lines.append(f"           or migrate: {hint}")
        lines.append("")
    changed = artifact_changes.between(view.path, old, new) if old != new else []
    if changed:
        lines.append(f"What {new} writes differently from {old} (code that reads checkpoints by "
                     "key or edits saved configs must follow):")
        lines += [f"  {c.fmt}: {c.summary()}" for c in changed] + [""]
    back = [s for fmt in view.formats if (s := advisor.back_summary(fmt))]
    if back:
        lines += [f"Artifacts saved under {new}, loaded under {old} (a rollback, or old servers "
                  "reading new models):"] + [f"  {s}" for s in back]
    elif old != new:
        lines.append(f"(the run has no cells saved under {new} and loaded under {old})")
    return "\n".join(lines).rstrip() + "\n"


# --- the verdict: what `show`, `run` and the reports say first about an upgrade -------------

VERDICT_WIDTH = 150  # a verdict line names what fits; the rest is counted
REPORT_WIDTH = 600  # a report's verdict lines wrap on the page: name (nearly) everything
MAX_FIXES = 3


def is_native(loader: str) -> bool:
    """A loader called the way a user calls it by default (not a `[workaround]` variant)."""
    return "[" not in loader


def fit(prefix: str, items: list[str], width: int = VERDICT_WIDTH) -> str:
    """prefix + as many items as fit in width, then "+N more"."""
    shown: list[str] = []
    for i, item in enumerate(items):
        rest = len(items) - i - 1
        tail = f", +{rest} more" if rest else ""
        if shown and len(prefix + ", ".join([*shown, item]) + tail) > width:
            return prefix + ", ".join(shown) + f", +{len(items) - len(shown)} more"
        shown.append(item)
    return prefix + (", ".join(shown) or "none")


def one_fix(advisor: Advisor, a: LoaderAdvice) -> str | None:
    """The single most useful fix the run shows for a broken loader: the legacy-Keras route,
    another loader of the same artifact, re-saving in another format, or a raw reader."""
    legacy = advisor.legacy_fix(a.fmt, a.loader, a.broken)
    if legacy:
        return f"{legacy.how} ({legacy.old} -> {legacy.legacy} passes)"
    same = [lo for lo in advisor._passing_loaders(advisor.old, advisor.new, a.fmt, a.broken)
            if lo != a.loader]
    models = [lo for lo in same if lo not in RAW_READERS]
    if models:
        return f"load with `{models[0]}`"
    for other in advisor.view.formats:
        if other == a.fmt:
            continue
        ok = [lo for lo in advisor._passing_loaders(advisor.old, advisor.new, other, a.broken)
              if lo not in RAW_READERS]
        if ok:
            return f"re-save under {advisor.old} as {other}, load with `{ok[0]}`"
    if same:
        return f"`{same[0]}`{RAW_READERS[same[0]]}"
    return None


def _grouped(pairs: list[tuple[str, str]]) -> list[str]:
    """[(loader, format)] -> ["`loader` (fmt, fmt)"] ("(4 formats)" beyond two), loaders in
    first-seen order."""
    out: dict[str, list[str]] = {}
    for loader, fmt in pairs:
        out.setdefault(loader, []).append(fmt)
    return [f"`{lo}` ({', '.join(fmts) if len(fmts) <= 2 else f'{len(fmts)} formats'})"
            for lo, fmts in out.items()]


BROKEN = ("breaks", "silent", "fails")


def verdict(advisor: Advisor, width: int = VERDICT_WIDTH) -> list[str]:
    """Three to six lines for the upgrade old -> new: which native loaders keep working, which
    break (on which formats), and one fix per break the run shows.  A line names what fits in
    `width` and counts the rest (a report passes a large width)."""
    view, old, new = advisor.view, advisor.old, advisor.new
    advice = [a for fmt in view.formats for lo in view.loaders(fmt) if is_native(lo)
              and (a := advisor.loader_advice(fmt, lo))
              and a.verdict not in ("unavailable", "unsaved", "never")]
    bad = [a for a in advice if a.verdict in BROKEN]
    broken = {a.loader for a in bad}
    works = [f"`{lo}`" for lo in dict.fromkeys(a.loader for a in advice) if lo not in broken]
    silent = [f"`{lo}`" for lo in dict.fromkeys(a.loader for a in bad if a.verdict == "silent")]
    breaks = _grouped([(a.loader, a.fmt) for a in bad if a.verdict != "silent"])
    word = "Upgrade" if version_key(old) <= version_key(new) else "Downgrade"
    lines = [f"{word} {advisor.version_text(old)} -> {advisor.version_text(new)}: "
             f"{len(works)} native loader(s) keep working, {len(broken)} break",
             fit("  keep working: ", works, width),
             fit("  break: ", [*(f"{lo} (silently wrong)" for lo in silent), *breaks], width)]
    fixes: dict[str, list[tuple[str, str]]] = {}
    for a in bad:
        fixes.setdefault(one_fix(advisor, a) or "no fix in this run", []).append((a.loader, a.fmt))
    for fix, targets in list(fixes.items())[:MAX_FIXES]:
        lines.append(fit("  fix for ", _grouped(targets), width - len(fix) - 2)
                     + f": {fix}")
    if len(fixes) > MAX_FIXES:
        lines.append(f"  ({len(fixes) - MAX_FIXES} more: `harness advise --from {old} --to {new}`)")
    return lines


def upgrades(view: RunView) -> list[tuple[str, str]]:
    """The (old, new) upgrades a run shows: save label -> a newer plain load label."""
    pairs = {(s, ld) for s, ld in zip(view.df["save_tf"], view.df["load_tf"], strict=True)
             if "+" not in ld and version_key(s) < version_key(ld)}
    return sorted(pairs, key=lambda p: (version_key(p[0]), version_key(p[1])))


def verdicts(view: RunView, limit: int = 2) -> list[str]:
    """The verdict of each upgrade in the run, or a pointer to `advise` when there are many."""
    pairs = upgrades(view)
    if not pairs:
        return []
    if len(pairs) > limit:
        return [f"{len(pairs)} upgrades in this run; for one: `harness advise --from "
                f"{pairs[0][0]} --to {pairs[-1][1]}`"]
    out: list[str] = []
    for old, new in pairs:
        out += verdict(Advisor(view, old, new))
    return out


def key_upgrades(view: RunView) -> list[tuple[str, str]]:
    """The upgrades a published report leads with: each save version to the next newer plain
    load version (2.12 -> 2.13, ..., 2.20 -> 2.21; 2.12 -> 2.16 in a two-version run)."""
    out = []
    for old in dict.fromkeys(s for s, _ in upgrades(view)):
        newer = [ld for s, ld in upgrades(view) if s == old]
        out.append((old, newer[0]))
    return out


def upgrade_payload(view: RunView, old: str, new: str) -> dict:
    """One upgrade for the HTML page's picker: the verdict, and each loader that does not simply
    keep working, with its errors and what works instead."""
    advisor = Advisor(view, old, new)
    rows = []
    for fmt in view.formats:
        for loader in view.loaders(fmt):
            a = advisor.loader_advice(fmt, loader)
            if a is None or a.verdict in ("works", "unavailable", "unsaved"):
                continue
            text = EXPLAIN[a.verdict].format(old=old, new=new, models=", ".join(a.broken))
            rows.append({"format": fmt, "loader": loader, "verdict": LABELS[a.verdict],
                         "text": text, "errors": a.errors[:2], "instead": a.instead})
    return {"from": old, "to": new, "verdict": verdict(advisor, REPORT_WIDTH),
            "legacy": legacy_summary(advisor)[:1], "loaders": rows}
