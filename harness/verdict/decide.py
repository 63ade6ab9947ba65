"""What a cell and an upgrade mean: the one place that decides it.

A cell has a *kind*, ranked: `error` (the loader raised, the worker crashed or timed out) >
`values` (loads, but parameters or predictions differ) > `training` (loads and predicts the
same; training cannot resume) > `pass`.  `unsupported` and `save-error` cells have none: they
say nothing about the load side.

For an upgrade X -> Y, one (format, loader, model) *breaks* when it passes under X -> X and does
not under X -> Y, or fails worse in kind; failing under both is "already fails under X", never a
break; passing under Y where X -> X failed is "fixed by Y".  Without X -> X cells nothing is
called a break.  `harness run`, `show`, `advise`, `try`, `fixtures verify`, the reports, `check`
and the pytest plugin take their words from here; they only render."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ERROR, VALUES, TRAINING, PASS = "error", "values", "training", "pass"
RANK = {PASS: 0, TRAINING: 1, VALUES: 2, ERROR: 3}
ERROR_STATUSES = ("load-error", "crash", "timeout")
DIFFERS = ("parameters", "predictions", "training")

# What each kind is, in the words every report uses.
KIND_WORDS = {
    ERROR: "raises",
    VALUES: "loads without an error, but the parameters or predictions differ: silently wrong",
    TRAINING: "loads and predicts the same; training cannot resume (optimizer state lost or "
              "`fit()` raises)",
    PASS: "passes",
}
KIND_SHORT = {ERROR: "raises", VALUES: "silently wrong",
              TRAINING: "predicts the same, cannot resume training", PASS: "passes"}
# Not a kind (it ranks as `values`): a `values` cell whose outputs alone move, within
# NEAR_FACTOR of the tolerance (verdict.near); phrases say it with its size.
NEAR = "near"
KIND_SHORT[NEAR] = "loads, outputs move slightly"

# Loaders that read the stored values, not a model: a way to rescue weights, named as such and
# never counted as a loader that gives back a model.
RAW_READERS = {"h5py.File": "reads the weights, not a model",
               "tf.train.load_checkpoint": "reads the values, not a model"}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def differs(cell: Mapping) -> list[str]:
    """What differs in a mismatch: `parameters`, `predictions` and/or `training`.  Rows written
    before the field existed are read from the judge's own problem prefixes."""
    if cell.get("status") != "mismatch":
        return []
    got = cell.get("differs")
    if isinstance(got, (list, tuple)) and got:
        return [d for d in DIFFERS if d in got]
    text = "" if _missing(cell.get("error")) else str(cell.get("error"))
    found = [d for d, prefix in (("parameters", "parameters:"), ("predictions", "predictions:"),
                                 ("training", "resume:")) if prefix in text]
    return found or ["parameters", "predictions"]  # unknown: the worse reading


def kind(cell: Mapping | None) -> str | None:
    """The cell's kind, or None where it says nothing about loading (no cell, unsupported,
    save-error)."""
    if not cell:
        return None
    status = cell.get("status")
    if status == "pass":
        return PASS
    if status == "mismatch":
        return TRAINING if differs(cell) == ["training"] else VALUES
    if status in ERROR_STATUSES:
        return ERROR
    return None


def loads(cell: Mapping) -> bool:
    """Loads and predicts the same (pass or training only): not a load failure."""
    return kind(cell) in (PASS, TRAINING)


def is_native(loader: str) -> bool:
    """A loader called the way a user calls it by default (not a `[workaround]` variant)."""
    return "[" not in loader


def gives_model(loader: str) -> bool:
    return loader not in RAW_READERS


# --- the size of a difference --------------------------------------------------------------

# A mismatch whose outputs move by no more than this many times the tolerance is stated as a
# small difference ("loads; outputs move by ..."), not condemned as a wrong model.
NEAR_FACTOR = 100

# Formats whose bytes are read by another runtime's kernels (TFLite's, onnxruntime's): a
# difference in their outputs under a new version is the runtime's, and re-saving the file
# cannot change it.
RUNTIME_FORMATS = ("tflite", "tflite-dynamic", "onnx")


def tolerance_text(cell: Mapping) -> str:
    """"1e-05" where rtol == atol, else "rtol 1e-06 / atol 1e-05"; "" where unknown."""
    rtol, atol = cell.get("rtol"), cell.get("atol")
    if _missing(atol):
        return ""
    if _missing(rtol) or float(rtol) == float(atol):
        return f"{float(atol):.0e}"
    if float(rtol) == 0:
        return f"atol {float(atol):.0e}"
    if float(atol) == 0:
        return f"rtol {float(rtol):.0e}"
    return f"rtol {float(rtol):.0e} / atol {float(atol):.0e}"


def moved(cell: Mapping) -> str:
    """"outputs move by 7.7e-05 (relative 1.4e-04) against tolerance 1e-05"."""
    rel = cell.get("max_rel_diff")
    tol = tolerance_text(cell)
    return (f"outputs move by {float(cell['max_abs_diff']):.1e}"
            + (f" (relative {float(rel):.1e})" if not _missing(rel) and math.isfinite(
                float(rel)) else "")
            + (f" against tolerance {tol}" if tol else ""))


def near(cell: Mapping | None) -> bool:
    """A mismatch in the predictions only (parameters the same, nothing else off), within
    NEAR_FACTOR of its tolerance: a small numeric difference, said with its size."""
    if not cell or kind(cell) != VALUES or differs(cell) != ["predictions"]:
        return False
    diff, atol, rtol = cell.get("max_abs_diff"), cell.get("atol"), cell.get("rtol")
    if _missing(diff) or _missing(atol):
        return False
    text = "" if _missing(cell.get("error")) else str(cell.get("error"))
    if text and "beyond rtol=" not in text:  # a dtype, shape or non-finite change: never small
        return False
    if float(diff) <= NEAR_FACTOR * float(atol):
        return True
    rel = cell.get("max_rel_diff")
    return not _missing(rtol) and not _missing(rel) and float(rtol) > 0 and \
        float(rel) <= NEAR_FACTOR * float(rtol)


def runtime_side(cell: Mapping | None) -> bool:
    """The difference comes from the runtime's kernels, not from how the file was written."""
    return bool(cell) and cell.get("format") in RUNTIME_FORMATS and kind(cell) == VALUES \
        and differs(cell) == ["predictions"]


def delegate_effect(cell: Mapping | None) -> str:
    """The runtime change the cell shows beside a difference: "the default delegate (XNNPACK)
    alone moves them by 6.3e-05 under this TF" (the same file without it, measured on load);
    "" where the cell has no such figure or it is 0."""
    notes = (cell or {}).get("notes")
    d = notes.get("default_delegate_max_abs_diff") if isinstance(notes, dict) else None
    if _missing(d) or not float(d):
        return ""
    return f"the default delegate (XNNPACK) alone moves them by {float(d):.1e} under this TF"


def size(cell: Mapping) -> str:
    """How far a `values` cell is off, in a few words: "float16 outputs move by 1.2e-03
    (relative 2.0e-03) against tolerance 1e-03; weights bit-identical"."""
    parts = []
    what = differs(cell)
    notes = cell.get("notes") if isinstance(cell.get("notes"), dict) else {}
    if "predictions" in what and not _missing(cell.get("max_abs_diff")):
        dtype = notes.get("output_dtype")
        parts.append(f"{dtype + ' ' if dtype else ''}{moved(cell)}")
    elif "predictions" in what:
        parts.append("outputs differ")
    total, equal = cell.get("params_total"), cell.get("params_equal")
    if not _missing(total) and not _missing(equal) and total:
        if "parameters" in what:
            parts.append(f"parameters {int(equal)}/{int(total)} bit-identical")
        elif "predictions" in what:
            parts.append("weights bit-identical")
    if "predictions" in what and delegate_effect(cell):
        parts.append(delegate_effect(cell))
    if "predictions" in what and (where := divergence(cell)):
        parts.append(where)
    return "; ".join(parts)


def divergence(cell: Mapping) -> str:
    """"diverges from layer `logits` (Dense, mixed_float16) on; passes at atol 1.1e-03" for a
    prediction mismatch with per-layer outputs (harness.verdict.layer_diffs), else ""."""
    import json

    at, need = cell.get("diverges_at"), cell.get("tolerance_to_pass")
    at, need = (json.loads(x) if isinstance(x, str) and x[:1] == "{" else x for x in (at, need))
    if not isinstance(at, dict) or not at.get("layer"):
        return ""
    what = ", ".join(str(v) for v in (at.get("class"), at.get("dtype_policy")) if v)
    text = f"diverges from layer `{at['layer']}`" + (f" ({what})" if what else "") + " on"
    if isinstance(need, dict) and not _missing(need.get("atol")):
        text += f"; passes at atol {float(need['atol']):.1e}"
    return text


# --- an upgrade ----------------------------------------------------------------------------

WORKS, BREAKS, ALREADY, FIXED, NEW, NEW_FAILS, UNBASELINED, NA = (
    "works", "breaks", "already", "fixed", "new", "new-fails", "unbaselined", "n/a")


@dataclass(frozen=True)
class Outcome:
    """One model's (format, loader) across an upgrade: its kind before (X -> X) and after
    (X -> Y), and what that makes it."""

    model: str
    before: str | None
    after: str | None
    change: str
    cell: Mapping | None = None  # the X -> Y cell


def outcome(model: str, before: Mapping | None, after: Mapping | None,
            baselined: bool) -> Outcome:
    """`baselined`: the run has X -> X cells at all (a missing one is then not applicable)."""
    k_before, k_after = kind(before), kind(after)
    if k_after is None:
        change = NA
    elif not baselined:
        change = WORKS if k_after == PASS else UNBASELINED
    elif k_before is None:  # the loader does not exist (or did not run) under X
        change = NEW if k_after == PASS else NEW_FAILS
    elif k_after == PASS:
        change = WORKS if k_before == PASS else FIXED
    elif k_before == PASS or RANK[k_after] > RANK[k_before]:
        change = BREAKS
    else:
        change = ALREADY
    return Outcome(model, k_before, k_after, change, after)


@dataclass
class LoaderVerdict:
    """One (format, loader) across an upgrade, model by model."""

    fmt: str
    loader: str
    outcomes: list[Outcome] = field(default_factory=list)

    def models(self, *changes: str, kinds: Iterable[str] | None = None) -> list[str]:
        want = set(kinds) if kinds is not None else None
        return [o.model for o in self.outcomes if o.change in changes
                and (want is None or o.after in want)]

    @property
    def applicable(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.change != NA]

    @property
    def summary(self) -> str:
        """The loader's one word: breaks > already > fixed > unbaselined > new-fails > new >
        works > n/a."""
        changes = {o.change for o in self.outcomes}
        for c in (BREAKS, ALREADY, FIXED, UNBASELINED, NEW_FAILS, NEW, WORKS):
            if c in changes:
                return c
        return NA

    @property
    def passed(self) -> int:
        return sum(o.after == PASS for o in self.applicable)

    def by_kind(self, *changes: str) -> dict[str, list[Outcome]]:
        """Outcomes of these changes, worst kind first."""
        out: dict[str, list[Outcome]] = {}
        for o in sorted((o for o in self.outcomes if o.change in changes),
                        key=lambda o: -RANK[o.after or PASS]):
            out.setdefault(o.after, []).append(o)
        return out


def loader_verdict(fmt: str, loader: str, models: Iterable[str],
                   before: Mapping[str, Mapping], after: Mapping[str, Mapping],
                   baselined: bool) -> LoaderVerdict:
    """`before`/`after`: model -> cell of X -> X and X -> Y for this format and loader."""
    v = LoaderVerdict(fmt, loader)
    for m in models:
        if m in after:
            v.outcomes.append(outcome(m, before.get(m), after[m], baselined))
    return v


def largest(outcomes: Iterable[Outcome]) -> Outcome | None:
    """The `values` outcome that is furthest off (by max |diff|, else the first)."""
    vals = [o for o in outcomes if o.after == VALUES and o.cell is not None]
    return max(vals, key=lambda o: -1.0 if _missing(o.cell.get("max_abs_diff"))
               else float(o.cell["max_abs_diff"]), default=None)


def names(outcomes: Iterable[Outcome], sized: bool = False) -> str:
    """"mlp, cnn" or, sized, the furthest-off model's size after them: "mixed (float16 outputs
    move 1.2e-3, tolerance 1e-3; weights bit-identical)"."""
    outcomes = list(outcomes)
    text = ", ".join(o.model for o in outcomes)
    worst = largest(outcomes) if sized else None
    extra = size(worst.cell) if worst is not None else ""
    if extra:
        text += f" ({extra})" if len(outcomes) == 1 else f" (largest, {worst.model}: {extra})"
    return text


def kind_phrases(v: LoaderVerdict, *changes: str, sized: bool = True,
                 max_names: int | None = None) -> list[str]:
    """"raises for rnn, qat (2 of 13)", "silently wrong for mixed (1 of 13: ...)", worst first;
    beyond `max_names` models a phrase counts the rest ("+9 more")."""
    n = len(v.applicable)
    out = []
    groups: list[tuple[str, list[Outcome]]] = []
    for k, outs in v.by_kind(*changes).items():
        if k == VALUES:  # the small differences apart: stated, not called silently wrong
            far = [o for o in outs if not near(o.cell)]
            close = [o for o in outs if near(o.cell)]
            groups += [(k, far)] if far else []
            groups += [(NEAR, close)] if close else []
        else:
            groups.append((k, outs))
    for k, outs in groups:
        shown = outs if max_names is None else outs[:max_names]
        more = f" +{len(outs) - len(shown)} more" if len(shown) < len(outs) else ""
        count = f"{len(outs)} of {n}"
        worst = largest(outs) if sized or k == NEAR else None
        extra = size(worst.cell) if worst is not None else ""
        if extra and len(outs) > 1:
            extra = f"largest, {worst.model}: {extra}"
        out.append(f"{KIND_SHORT[k]} for {', '.join(o.model for o in shown)}{more} "
                   f"({count}{': ' + extra if extra else ''})")
    return out


# --- a loader written as the Python a user pastes ------------------------------------------

# Each is one line of Python that parses (tests/test_verdict.py checks every loader of
# vocab.FORMAT_LOADERS): the API as the worker calls it, with the user's own objects as
# placeholders (path, model, x, sess, var_list, MyLayer).  A loader whose API takes no path (a
# Session, a GraphDef) is written with what it does take, not as `name(path)`.
_SESSION = "with tf.Graph().as_default(), tf.compat.v1.Session() as sess: "
_GRAPH_DEF = 'tf.compat.v1.GraphDef.FromString(open(path, "rb").read())'
_ARG_CALLS = {
    "compile=False": "{name}(path, compile=False)",
    "custom_objects": '{name}(path, custom_objects={{"MyLayer": MyLayer}})',
    "custom_objects=registered": '{name}(path, custom_objects={{"package>MyLayer": MyLayer}})',
    "no_custom_code": "{name}(path)  # in a process without the model's code",
    "call_endpoint=serving_default": '{name}(path, call_endpoint="serving_default")',
    "call": "{name}(path)(x)",
    "expect_partial,new_head": "tf.train.Checkpoint(model=model).restore(path).expect_partial()",
    "var_list": "tf.compat.v1.train.Saver(var_list).restore(sess, path)",
}
_STRATEGY = "with tf.distribute.MirroredStrategy().scope(): "
_PLAIN_CALLS = {
    "model.load_weights": "model.load_weights(path)",
    "tf.train.Checkpoint.restore": "tf.train.Checkpoint(model=model).restore(path)",
    "tf.train.CheckpointManager": "tf.train.CheckpointManager(tf.train.Checkpoint(model=model), "
                                  "path, max_to_keep=1).restore_or_initialize()",
    "tf.lite.Interpreter": "tf.lite.Interpreter(model_path=path)",
    "ai_edge_litert.interpreter.Interpreter": "ai_edge_litert.interpreter.Interpreter("
                                              "model_path=path)",
    "h5py.File": 'h5py.File(path, "r")',
    "onnxruntime.InferenceSession": 'onnxruntime.InferenceSession(path, providers=['
                                    '"CPUExecutionProvider"])',
    "tf.compat.v1.saved_model.loader.load": _SESSION + 'tf.compat.v1.saved_model.loader.load('
                                            'sess, ["serve"], path)',
    "tf.compat.v1.train.import_meta_graph": _SESSION + "tf.compat.v1.train.import_meta_graph("
                                            'path + ".meta").restore(sess, path)',
    "tf.compat.v1.import_graph_def": f'tf.compat.v1.import_graph_def({_GRAPH_DEF}, name="")',
    "tf.compat.v1.wrap_function": "tf.compat.v1.wrap_function(lambda: "
                                  f'tf.compat.v1.import_graph_def({_GRAPH_DEF}, name=""), [])',
}


def python_call(loader: str) -> str:
    """`keras.models.load_model[compile=False]` -> `keras.models.load_model(path,
    compile=False)`: a fix written as the call a user pastes."""
    name, _, arg = loader.partition("[")
    arg = arg.rstrip("]")
    plain = _PLAIN_CALLS.get(name, f"{name}(path)")
    if arg == "MirroredStrategy":  # the same call, inside the strategy's scope
        return _STRATEGY + plain
    if arg and arg in _ARG_CALLS:
        return _ARG_CALLS[arg].format(name=name)
    if arg:  # a variant this table does not know: the plain call, the variant said after it
        return f"{plain}  # [{arg}]"
    return plain


def row_figures(row: dict) -> str:
    """A row's figures in words: parameters bit-identical, max |diff|, a listing that failed."""
    parts = []
    if row.get("params_total"):
        parts.append(f"params {row.get('params_equal')}/{row['params_total']} bit-identical")
    elif "by value" in str((row.get("notes") or {}).get("params") or ""):
        parts.append("params by value only")
    if row.get("max_abs_diff") is not None:
        parts.append(f"max |diff| {row['max_abs_diff']:.2g}")
    listing = (row.get("notes") or {}).get("parameter_listing")
    if listing:  # a step of ours that failed after the user's calls succeeded
        parts.append(listing)
    return ", ".join(parts)


def row_error(row: dict, width: int = 110) -> str:
    """A row's error as one line of at most `width` characters, its type first."""
    text = " ".join(str(row.get("error") or "").split())
    head = f"{row.get('error_type')}: " if row.get("error_type") else ""
    text = head + text
    return text if len(text) <= width else text[:width - 3] + "..."
