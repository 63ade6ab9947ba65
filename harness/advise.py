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
        self._index: dict[tuple, dict] = {}
        for c in view.cells:
            key = (c["save_tf"], c["load_tf"], c["format"], c["loader"], c["model"])
            # several devices: keep the worst, so advice never hides a failing device
            if key not in self._index or self._index[key]["status"] == "pass":
                self._index[key] = c

    def cells(self, save: str, load: str, fmt: str, loader: str) -> dict[str, dict]:
        return {m: c for (s, ld, f, lo, m), c in self._index.items()
                if (s, ld, f, lo) == (save, load, fmt, loader)}

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
        same = [lo for lo in self._passing_loaders(self.old, self.new, fmt, models) if lo != loader]
        out = [f"`{lo}`{RAW_READERS.get(lo, '')} loads the same {fmt} artifacts under "
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
        lines.append("")
    back = [s for fmt in view.formats if (s := advisor.back_summary(fmt))]
    if back:
        lines += [f"Artifacts saved under {new}, loaded under {old} (a rollback, or old servers "
                  "reading new models):"] + [f"  {s}" for s in back]
    elif old != new:
        lines.append(f"(the run has no cells saved under {new} and loaded under {old})")
    return "\n".join(lines).rstrip() + "\n"
