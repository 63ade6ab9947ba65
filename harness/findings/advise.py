"""Upgrade advice from a run's real cells: for an upgrade from TF A to TF B, per format and loader,
what stops working on artifacts saved under A once they are loaded under B, and what works
instead (another loader of the same artifact, else another format to re-save in under A).
Artifacts saved under B and read back under A (a rollback, or a mixed fleet) get a short section
of their own.  Nothing here is hard-coded: every line comes from the cells of the run."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..results.store import read_rows
from ..results.view import RunView, error_summary, version_key
from ..verdict import decide as verdict_rules
from . import artifact_changes


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
class Fix:
    """One way around a break, proven by the run's cells for `ok` (and not for `not_ok`)."""

    text: str  # the call or route, as a user would paste or follow it
    ok: list[str]
    not_ok: list[str] = field(default_factory=list)
    route: str = "loader"  # loader | legacy | resave | raw | training
    note: str = ""  # a caveat the cells show, said after the models

    def line(self) -> str:
        tail = f" (not {', '.join(self.not_ok)})" if self.not_ok else ""
        return f"{self.text} for {', '.join(self.ok)}{tail}{self.note}"


@dataclass
class LoaderAdvice:
    """One (format, loader) of an upgrade: the verdict's outcomes, model by model, plus what the
    run shows around them (errors, fixes for the breaks, models the old version could not save)."""

    v: verdict_rules.LoaderVerdict
    errors: list[str] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    unsaved: list[str] = field(default_factory=list)
    max_diff: float | None = None
    baseline: str | None = None  # "2.12 -> 2.12" (a fixture's "2.12.1 -> 2.12")

    @property
    def fmt(self) -> str:
        return self.v.fmt

    @property
    def loader(self) -> str:
        return self.v.loader

    @property
    def verdict(self) -> str:
        if not self.v.applicable:
            return "unsaved" if self.unsaved else verdict_rules.NA
        return self.v.summary

    @property
    def broken(self) -> list[str]:
        return self.v.models(verdict_rules.BREAKS)


RAW_READERS = {k: f" ({v})" for k, v in verdict_rules.RAW_READERS.items()}
MAX_FIXES_PER_BREAK = 3


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
        self._advice: dict[tuple[str, str], LoaderAdvice | None] = {}
        self.base = self._baseline(loads, resolved)

    def _baseline(self, loads: set[str], resolved: dict[str, str]) -> str | None:
        """The load label of the old version's own cells (X -> X): the old label itself, or for
        artifacts saved outside the run (fixtures: "2.12.1") the plain load label that resolved
        to that very TF ("2.12")."""
        pairs = {k[:2] for k in self._index}
        if self.old == self.new or (self.old, self.old) in pairs:
            return self.old
        same = sorted(ld for ld in loads if "+" not in ld and (self.old, ld) in pairs
                      and resolved.get(ld) and resolved.get(ld) == resolved.get(self.old,
                                                                               self.old))
        return same[0] if same else None

    @property
    def baselined(self) -> bool:
        """The run has cells saved under the old version and loaded under it: what it already
        fails."""
        return self.base is not None

    @property
    def baseline_pair(self) -> str:
        return f"{self.old} -> {self.base or self.old}"

    @property
    def legacy(self) -> str | None:
        """The run's legacy-Keras variant of the new version ("2.16+tf_keras"), if it loaded
        artifacts saved under the old one."""
        label = f"{self.new}+tf_keras"
        if "+" in self.new or not any(k[:2] == (self.old, label) for k in self._index):
            return None
        return label

    def legacy_fix(self, fmt: str, loader: str, models: list[str]) -> LegacyFix | None:
        """The legacy-Keras route for the models (of those that fail under the new version's own
        Keras) whose cells pass under it with the same loader; None where it passes for none."""
        if not self.legacy or not models:
            return None
        cells = self.cells(self.old, self.legacy, fmt, loader)
        ok = [m for m in models if cells.get(m, {}).get("status") == "pass"]
        if not ok:
            return None
        return LegacyFix(self.old, self.new, self.legacy, fmt, loader, ok)

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

    def passing(self, save: str, load: str, fmt: str, loader: str, models: list[str]) -> list[str]:
        cells = self.cells(save, load, fmt, loader)
        return [m for m in models if cells.get(m, {}).get("status") == "pass"]

    def _passing_loaders(self, save: str, load: str, fmt: str, models: list[str]):
        """Loaders of fmt that pass save->load for every one of `models`."""
        return [lo for lo in self.view.loaders(fmt)
                if models and len(self.passing(save, load, fmt, lo, models)) == len(models)]

    def loader_advice(self, fmt: str, loader: str) -> LoaderAdvice | None:
        key = (fmt, loader)
        if key not in self._advice:
            self._advice[key] = self._loader_advice(fmt, loader)
        return self._advice[key]

    def _loader_advice(self, fmt: str, loader: str) -> LoaderAdvice | None:
        after = self.cells(self.old, self.new, fmt, loader)
        if not after:
            return None
        before = self.cells(self.old, self.base, fmt, loader) if self.base else {}
        v = verdict_rules.loader_verdict(fmt, loader, self.view.models, before, after,
                                         self.baselined)
        adv = LoaderAdvice(v)
        adv.baseline = self.baseline_pair
        adv.unsaved = [m for m in self.view.models
                       if after.get(m, {}).get("status") == "save-error"]
        diffs = [o.cell["max_abs_diff"] for o in v.applicable if o.after == verdict_rules.PASS
                 and o.cell.get("max_abs_diff") is not None]
        adv.max_diff = max(diffs) if diffs else None
        failing = [o.cell for o in v.outcomes if o.change in (
            verdict_rules.BREAKS, verdict_rules.ALREADY, verdict_rules.UNBASELINED,
            verdict_rules.NEW_FAILS)]
        adv.errors = [e for e, _ in Counter(error_summary(c) for c in failing).most_common(3) if e]
        adv.fixes = self.fixes(v)
        return adv

    # --- fixes: proven per model by the run's cells, matched to the kind -------------------

    def fixes(self, v: verdict_rules.LoaderVerdict) -> list[Fix]:
        broken = v.by_kind(verdict_rules.BREAKS)
        hard = [o.model for k in (verdict_rules.ERROR, verdict_rules.VALUES)
                for o in broken.get(k, [])]
        out = self._load_fixes(v.fmt, v.loader, hard) if hard else []
        training = [o.model for o in broken.get(verdict_rules.TRAINING, [])]
        for t in self._training_fixes(v.fmt, v.loader, training) if training else []:
            same = next((f for f in out if f.text == t.text), None)
            if same is None:
                out.append(t)
                continue
            # one call that loads some and, without the optimizer state, serves the others
            same.ok += t.ok
            same.not_ok = [m for m in same.not_ok if m not in t.ok]
            same.note += t.note
        return out

    def _load_fixes(self, fmt: str, loader: str, models: list[str]) -> list[Fix]:
        """Models that raise or come back wrong: the legacy route, another loader of the same
        artifact (the one that covers most first), re-saving in another format, a raw reader."""
        out: list[Fix] = []
        legacy = self.legacy_fix(fmt, loader, models)
        left = list(models)
        if legacy:
            out.append(Fix(legacy.how + f" ({legacy.old} -> {legacy.legacy} passes)",
                           legacy.models, [m for m in models if m not in legacy.models],
                           route="legacy"))
            left = [m for m in left if m not in legacy.models]
        covered = not left  # the legacy route loads them all: no re-save or raw reader
        others = [lo for lo in self.view.loaders(fmt)
                  if lo != loader and verdict_rules.gives_model(lo)]
        while left and len(out) < MAX_FIXES_PER_BREAK:
            best = max(others, key=lambda lo: len(self.passing(self.old, self.new, fmt, lo, left)),
                       default=None)
            ok = self.passing(self.old, self.new, fmt, best, left) if best else []
            if not ok:
                break
            out.append(Fix(f"`{verdict_rules.python_call(best)}`", ok,
                           [m for m in models if m not in ok]))
            others.remove(best)
            left = [m for m in left if m not in ok]
        if left and not covered and len(out) < MAX_FIXES_PER_BREAK:
            for other in self.view.formats:
                ok_lo = [lo for lo in self._passing_loaders(self.old, self.new, other, left)
                         if other != fmt and verdict_rules.gives_model(lo)]
                if ok_lo:
                    still = self._passing_loaders(self.new, self.new, other, left)
                    tail = "" if ok_lo[0] in still else \
                        f" (but not for artifacts saved under {self.new})"
                    out.append(Fix(f"re-save under {self.old} as {other}, load with "
                                   f"`{verdict_rules.python_call(ok_lo[0])}`", left,
                                   route="resave", note=tail))
                    left = []
                    break
        if left and not covered and len(out) < MAX_FIXES_PER_BREAK:
            for lo in self.view.loaders(fmt):
                ok = self.passing(self.old, self.new, fmt, lo, left)
                if lo in verdict_rules.RAW_READERS and ok:
                    out.append(Fix(f"`{verdict_rules.python_call(lo)}` "
                                   f"({verdict_rules.RAW_READERS[lo]})", ok,
                                   [m for m in left if m not in ok], route="raw"))
                    break
        return out

    def _training_fixes(self, fmt: str, loader: str, models: list[str]) -> list[Fix]:
        """Models that load and predict the same but cannot resume training: a loader of the
        same artifact with which training resumes, else one that loads them without the
        optimizer state (compile anew to train on), else what the cells do show."""
        keeps, fresh = [], []
        for lo in self.view.loaders(fmt):
            if lo == loader or not verdict_rules.gives_model(lo):
                continue
            cells = self.cells(self.old, self.new, fmt, lo)
            ok = [m for m in models if cells.get(m, {}).get("status") == "pass"]
            resumes = [m for m in ok if cells[m].get("resume_ok") is True]
            call = f"`{verdict_rules.python_call(lo)}`"
            if resumes:
                keeps.append(Fix(call, resumes, [m for m in models if m not in resumes],
                                 route="training", note=" (training resumes)"))
            elif ok:
                fresh.append(Fix(call, ok, [m for m in models if m not in ok], route="training",
                                 note=f"; {', '.join(ok)}: compile anew to train on (the "
                                      "optimizer state is not kept; predictions unaffected)"))
        if keeps or fresh:
            return (keeps or fresh)[:1]
        return [Fix("predictions are unaffected; no loader in this run resumes training from "
                    "these artifacts: compile anew after loading (the optimizer's state is "
                    "lost)", models, route="training")]

    def back_summary(self, fmt: str) -> str | None:
        """One line: which loaders read artifacts saved under the new version in the old one."""
        works, fails = [], []
        for loader in self.view.loaders(fmt):
            cells = self.cells(self.new, self.old, fmt, loader)
            applicable = [c for c in cells.values() if verdict_rules.kind(c) is not None]
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
    "works": "ok", "new": "NEW", "fixed": "FIXED", "breaks": "BREAKS", "already": "already",
    "unbaselined": "FAILS", "new-fails": "FAILS", "n/a": "n/a", "unsaved": "n/a",
}


def explain(a: LoaderAdvice, old: str, new: str) -> str:
    """The sentence of one loader's advice: what changes for which models, by kind."""
    v, R = a.v, verdict_rules
    phrases = "; ".join
    n = len(v.applicable)
    parts = []
    if a.verdict == "works":
        diff = f", max |diff| {a.max_diff:.1e}" if a.max_diff else ""
        return f"loads {old} artifacts under {new} ({v.passed}/{n} cells{diff})"
    if a.verdict == "new":
        return f"new in {new} (did not exist in {old}); loads {old} artifacts ({v.passed}/{n})"
    if a.verdict in ("n/a",):
        return f"does not exist for these artifacts under {new}"
    if a.verdict == "unsaved":
        return f"nothing to load: {old} could not save this format"
    if v.models(R.BREAKS):
        text = f"breaks under {new}: {phrases(R.kind_phrases(v, R.BREAKS))}"
        worse = [o.model for o in v.outcomes if o.change == R.BREAKS and o.before != R.PASS]
        if worse:
            text += f" (worse than under {old} for {', '.join(worse)})"
        parts.append(text)
    pair = a.baseline or f"{old} -> {old}"
    if v.models(R.ALREADY):
        parts.append(f"already fails under {pair} (not the upgrade): "
                     f"{phrases(R.kind_phrases(v, R.ALREADY))}")
    if v.models(R.UNBASELINED):
        parts.append(f"under {new}: {phrases(R.kind_phrases(v, R.UNBASELINED))} (no {pair} "
                     f"cells to tell whether {old} fails too)")
    if v.models(R.NEW_FAILS):
        parts.append(f"does not exist under {old}; under {new}: "
                     f"{phrases(R.kind_phrases(v, R.NEW_FAILS))}")
    if v.models(R.FIXED):
        parts.append(f"fixed by {new} for {', '.join(v.models(R.FIXED))} (failed under "
                     f"{pair})")
    return "; ".join(parts)


def _advice_body(advisor: Advisor, a: LoaderAdvice) -> list[str]:
    """The lines under one loader's label: its errors, what was unsaved, its fixes."""
    old, new = advisor.old, advisor.new
    body = [f"          {err}" for err in a.errors[:2]]
    if a.unsaved and a.verdict != "unsaved":
        body.append(f"          ({', '.join(a.unsaved)}: {old} could not save this format)")
    body += [f"          fix: {fix.line()}" for fix in a.fixes]
    if a.broken and verdict_rules.is_native(a.loader):
        from ..migrate.hints import migrate_hint

        hint = migrate_hint(a.fmt, old, new, "ARTIFACT")
        if hint:
            body.append(f"          or migrate: {hint}")
    return body


def _names(loaders: list[str]) -> str:
    """keras.models.load_model, [compile=False], [safe_mode=False]: variants of the first
    loader by their bracket only."""
    base = loaders[0].split("[", 1)[0]
    return ", ".join([loaders[0]] + [lo[len(base):] if lo.startswith(base + "[") else lo
                                     for lo in loaders[1:]])


def render(advisor: Advisor, width: int | None = None) -> str:
    """`harness advise`: per format, each loader's verdict, errors and fixes; loaders (a plain
    one and its [variant]s) whose advice reads the same are one entry; every line fits `width`
    (the terminal's; 160 when piped)."""
    import shutil

    width = max(40, width or shutil.get_terminal_size((160, 50)).columns)
    old, new = advisor.old, advisor.new
    view = advisor.view
    lines = [f"Upgrading {advisor.version_text(old)} -> {advisor.version_text(new)}",
             f"from run {view.path} ({view.date}; models: {', '.join(view.models)})"]
    if not advisor.baselined:
        lines.append(no_baseline_line(old))
    note = view.missing_note()
    if note:  # a loader whose cells are missing is absent below: say why
        lines.append(f"note: {note}")
    lines.append("")
    lines += legacy_summary(advisor)
    for fmt in view.formats:
        advice = [a for lo in view.loaders(fmt) if (a := advisor.loader_advice(fmt, lo))]
        if not advice:
            continue
        groups: dict[tuple, list[LoaderAdvice]] = {}
        for a in advice:
            said = (LABELS[a.verdict], explain(a, old, new), *_advice_body(advisor, a))
            groups.setdefault(said, []).append(a)
        lines.append(f"{fmt}")
        for (label, text, *body), same in groups.items():
            lines.append(f"  {label:<8}{_names([a.loader for a in same])}: {text}")
            lines += body
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
    out = []
    for line in lines:
        lead = len(line) - len(line.lstrip())
        indent = " " * (max(10, lead + 4) if lead else 4)  # under the loader's name
        out += textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False,
                             replace_whitespace=False) if len(line) > width else [line]
    return "\n".join(out).rstrip() + "\n"


def no_baseline_line(old: str) -> str:
    return (f"no {old} -> {old} cells in this run: a failure cannot be told from one {old} "
            f"already has, so nothing is called a break (`harness run` makes them unless "
            f"--no-baseline)")


# --- the verdict: what `show`, `run` and the reports say first about an upgrade -------------

VERDICT_WIDTH = 150  # a verdict line names what fits; the rest is counted
REPORT_WIDTH = 600  # a report's verdict lines wrap on the page: name (nearly) everything
MAX_FIXES = 3
is_native = verdict_rules.is_native


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


def _loader_lines(prefix: str, advs: list[LoaderAdvice], change: str, width: int) -> list[str]:
    """"  breaks: `loader` (h5: raises for mlp, cnn (2 of 13); keras: ...)" when it fits in
    `width`, else the loader on one line and a line per format and kind under it (each wrapped
    at the width): nothing is cut off."""
    per_fmt = [f"{a.fmt}: " + ", ".join(verdict_rules.kind_phrases(a.v, change)) for a in advs]
    line = f"{prefix}`{advs[0].loader}` ({'; '.join(per_fmt)})"
    if len(line) <= width:
        return [line]
    out = [f"{prefix}`{advs[0].loader}`:"]
    for a in advs:
        for phrase in verdict_rules.kind_phrases(a.v, change):
            out += _wrap(f"    {a.fmt}: {phrase}", width)
    return out


def verdict(advisor: Advisor, width: int = VERDICT_WIDTH) -> list[str]:
    """The upgrade old -> new in a few lines: which native loaders that give back a model keep
    working, which break (a line each: for which models, by what kind, how far), what already
    fails under old, what the raw readers still read, and a fix per break that the run shows."""
    view, old, new = advisor.view, advisor.old, advisor.new
    R = verdict_rules
    advice = [a for fmt in view.formats for lo in view.loaders(fmt) if R.is_native(lo)
              and (a := advisor.loader_advice(fmt, lo)) and a.v.applicable]
    models = [a for a in advice if R.gives_model(a.loader)]
    raw = [a for a in advice if not R.gives_model(a.loader)]
    by_loader: dict[str, list[LoaderAdvice]] = {}
    for a in models:
        by_loader.setdefault(a.loader, []).append(a)
    breaks = {lo: [a for a in advs if a.v.models(R.BREAKS)] for lo, advs in by_loader.items()}
    breaks = {lo: advs for lo, advs in breaks.items() if advs}
    keep = [lo for lo, advs in by_loader.items() if lo not in breaks
            and any(a.v.models(R.WORKS, R.FIXED, R.NEW) for a in advs)]
    already = {lo: [a for a in advs if a.v.models(R.ALREADY)] for lo, advs in by_loader.items()}
    already = {lo: advs for lo, advs in already.items() if advs}
    word = "Upgrade" if version_key(old) <= version_key(new) else "Downgrade"
    head = f"{word} {advisor.version_text(old)} -> {advisor.version_text(new)}: "
    if not advisor.baselined:
        fails = [lo for lo, advs in by_loader.items() if any(a.v.models(R.UNBASELINED)
                                                            for a in advs)]
        # a loader that passes for one format and fails for another is said once: it fails
        passes = [lo for lo in keep if lo not in fails]
        return [head + f"{len(passes)} of {len(by_loader)} native loader(s) that give back a "
                f"model pass, {len(fails)} fail", "  " + no_baseline_line(old),
                fit("  pass: ", [f"`{lo}`" for lo in passes], width),
                fit("  fail: ", [f"`{lo}`" for lo in fails], width)]
    lines = [head + f"{len(keep)} of {len(by_loader)} native loader(s) that give back a model "
             f"keep working, {len(breaks)} break"]
    lines.append(fit("  keep working: ", [f"`{lo}`" for lo in keep], width))
    for advs in breaks.values():
        lines += _loader_lines("  breaks: ", advs, R.BREAKS, width)
    for advs in already.values():
        lines += _loader_lines(f"  already fails under {advisor.baseline_pair} (not the "
                               "upgrade): ",
                               advs, R.ALREADY, width)
    fixed = [f"`{a.loader}` ({a.fmt}: {', '.join(a.v.models(R.FIXED))})" for a in models
             if a.v.models(R.FIXED)]
    if fixed:
        lines.append(fit(f"  fixed by {new}: ", fixed, width))
    reads = [f"`{a.loader}` ({a.fmt})" for a in raw if not a.v.models(R.BREAKS)
             and a.v.models(R.WORKS, R.FIXED, R.NEW)]
    if reads:
        lines.append(fit("  still read the values (not a model): ", reads, width))
    raw_breaks = [a for a in raw if a.v.models(R.BREAKS)]
    for a in raw_breaks:
        lines += _loader_lines("  raw reader breaks: ", [a], R.BREAKS, width)
    said: dict[tuple[str, tuple[str, ...]], list[str]] = {}  # (loader, fixes) -> formats
    for advs in breaks.values():
        for a in advs:
            said.setdefault((a.loader, tuple(f.line() for f in a.fixes[:2])), []).append(a.fmt)
    fixes = []
    for (lo, texts), fmts in said.items():
        head = f"  fix for `{lo}` ({', '.join(fmts)}):"
        if not texts:
            fixes.append([f"  no fix in this run for `{lo}` ({', '.join(fmts)})"])
        elif len(one := f"{head} {'; '.join(texts)}") <= width:
            fixes.append([one])
        else:
            fixes.append([head] + [ln for t in texts for ln in _wrap(f"    {t}", width)])
    for block in fixes[:MAX_FIXES]:
        lines += block
    if len(fixes) > MAX_FIXES:
        lines.append(f"  ({len(fixes) - MAX_FIXES} more fixes: `harness advise --from {old} "
                     f"--to {new}`)")
    return lines


def unwrap(lines: list[str]) -> list[str]:
    """The verdict's lines with each wrapped line's rest ("      x") joined back to it, for a
    page that wraps by itself; a line under another keeps its four spaces."""
    out: list[str] = []
    for ln in lines:
        if ln.startswith("      ") and out:
            out[-1] += " " + ln.strip()
        else:
            out.append(ln)
    return out


def _wrap(line: str, width: int) -> list[str]:
    """A line too wide for `width`, wrapped at spaces, its continuation indented under it."""
    return textwrap.wrap(line, width, initial_indent="", subsequent_indent="      ",
                         break_long_words=False, break_on_hyphens=False,
                         drop_whitespace=True) or [line]


def upgrades(view: RunView) -> list[tuple[str, str]]:
    """The (old, new) upgrades a run shows: save label -> a newer plain load label."""
    pairs = {(s, ld) for s, ld in zip(view.df["save_tf"], view.df["load_tf"], strict=True)
             if "+" not in ld and version_key(s) < version_key(ld)}
    return sorted(pairs, key=lambda p: (version_key(p[0]), version_key(p[1])))


def verdicts(view: RunView, limit: int = 2, width: int = VERDICT_WIDTH) -> list[str]:
    """The verdict of each upgrade in the run, or a pointer to `advise` when there are many."""
    pairs = upgrades(view)
    if not pairs:
        return []
    if len(pairs) > limit:
        return [f"{len(pairs)} upgrades in this run; for one: `harness advise --from "
                f"{pairs[0][0]} --to {pairs[-1][1]}`"]
    out: list[str] = []
    for old, new in pairs:
        out += verdict(Advisor(view, old, new), width)
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
    keep working, with its errors and the fixes the run shows."""
    advisor = Advisor(view, old, new)
    rows = []
    for fmt in view.formats:
        for loader in view.loaders(fmt):
            a = advisor.loader_advice(fmt, loader)
            if a is None or a.verdict in ("works", "n/a", "unsaved"):
                continue
            rows.append({"format": fmt, "loader": loader, "verdict": LABELS[a.verdict],
                         "text": explain(a, old, new), "errors": a.errors[:2],
                         "instead": [f.line() for f in a.fixes]})
    return {"from": old, "to": new, "verdict": unwrap(verdict(advisor, REPORT_WIDTH)),
            "legacy": legacy_summary(advisor)[:1], "loaders": rows}
