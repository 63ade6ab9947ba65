"""Matrix specs: which cells a run has, written down in matrix/*.toml (or built from CLI flags).

A spec has axes (save and load versions, models, formats, loaders, devices, environment
variants), exclude rules that drop cells and include blocks that add them, and prediction
tolerances per format and dtype.  It serializes into run.json, so `--resume` and
`harness merge` rebuild exactly the plan a run was started with.

    [matrix]
    save = ["2.12", "2.16"]            # TF version specs (2.16, 2.16.1, 2.16+tf_keras, ...)
    load = ["2.12", "2.16"]
    models = ["mlp", "cnn"]            # default: every zoo model
    formats = ["savedmodel", "h5"]     # default: every format
    loaders = [...]                    # default: every loader of each format
    devices = ["cpu"]                  # both sides; or save_devices / load_devices
    variants = ["tf_keras"]            # adds 2.16+tf_keras etc. wherever the variant exists

    [[exclude]]                        # drop cells matching every field given (globs allowed)
    save_tf = "2.12"
    loader = "keras.models.load_model[*"

    [[include]]                        # add cells: axes not given default to [matrix]'s
    save = ["2.16+keras==3.3.3"]
    models = ["mlp"]

    [tolerances]                       # rtol/atol per dtype, for every format
    float32 = { rtol = 1e-6, atol = 1e-6 }
    [tolerances.tflite-dynamic]        # ... and per format (wins over the line above)
    float32 = { rtol = 1e-2, atol = 1e-2 }
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import HarnessError
from ..vocab import DEVICES, FORMAT_LOADERS, FORMATS, MODELS, TOLERANCES
from . import globs
from .cells import Cell, PlanError, pick, plan_cells
from .specs import EnvSpec, SpecError, parse_as_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    import tomli as tomllib


class MatrixError(HarnessError, ValueError):
    """A matrix spec that cannot mean a set of cells (one line, naming the file and the key)."""


CELL_FIELDS = tuple(Cell.__dataclass_fields__)
AXES = ("save", "load", "models", "formats", "loaders", "devices", "save_devices",
        "load_devices", "variants")
MATRIX_KEYS = set(AXES) | {"name", "description", "as_of"}
INCLUDE_KEYS = set(AXES) - {"variants"}
DTYPES = tuple(TOLERANCES) + ("float8", "int8", "uint8")
ALL_LOADERS = tuple(dict.fromkeys(ld for f in FORMATS for ld in FORMAT_LOADERS[f]))
KNOWN = {"model": MODELS, "format": FORMATS, "loader": ALL_LOADERS, "save_device": DEVICES,
         "load_device": DEVICES}


def _strings(where: str, value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise MatrixError(f"{where}: expected a string or a list of strings, got "
                      f"{_short(value)}")


def _short(value) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Rule:
    """Cell field -> patterns; a cell matches when every field given matches one pattern."""

    fields: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def parse(cls, where: str, table) -> Rule:
        if not isinstance(table, dict) or not table:
            raise MatrixError(f"{where}: expected a table of cell fields "
                              f"({', '.join(CELL_FIELDS)})")
        fields = []
        for key, value in table.items():
            if key not in CELL_FIELDS:
                raise MatrixError(f"{where}: unknown cell field {key!r}; known: "
                                  f"{', '.join(CELL_FIELDS)}")
            patterns = _strings(f"{where} {key}", value)
            if not patterns:
                raise MatrixError(f"{where} {key} is empty")
            for p in patterns:
                if key in KNOWN and not any(globs.match(k, p) for k in KNOWN[key]):
                    raise MatrixError(f"{where} {key}: unknown {key.replace('_', ' ')} {p!r}"
                                      f"{' (matches none)' if globs.is_glob(p) else ''}; "
                                      f"known: {', '.join(KNOWN[key])}")
            fields.append((key, tuple(patterns)))
        return cls(tuple(fields))

    def matches(self, cell: Cell | dict) -> bool:
        d = cell if isinstance(cell, dict) else cell.as_dict()
        return all(globs.matches_any(str(d.get(k)), pats) for k, pats in self.fields)

    def as_dict(self) -> dict:
        return {k: list(v) for k, v in self.fields}


@dataclass
class Matrix:
    save: list[str]
    load: list[str]
    models: list[str] | None = None
    formats: list[str] | None = None
    loaders: list[str] | None = None
    save_devices: list[str] = field(default_factory=lambda: ["cpu"])
    load_devices: list[str] = field(default_factory=lambda: ["cpu"])
    variants: list[str] = field(default_factory=list)
    includes: list[dict] = field(default_factory=list)
    excludes: list[Rule] = field(default_factory=list)
    # (format or "*", dtype) -> (rtol, atol)
    tolerances: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    as_of: str | None = None
    name: str | None = None
    source: str | None = None

    # -- building ---------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> Matrix:
        path = Path(path)
        return cls.from_toml(_read_toml(path), str(path))

    @classmethod
    def from_toml(cls, data: dict, where: str = "matrix") -> Matrix:
        unknown = set(data) - {"matrix", "include", "exclude", "tolerances"}
        if unknown:
            raise MatrixError(f"{where}: unknown table(s) {', '.join(sorted(unknown))}; "
                              "expected [matrix], [[include]], [[exclude]], [tolerances]")
        m = data.get("matrix")
        if not isinstance(m, dict):
            raise MatrixError(f"{where}: needs a [matrix] table with save and load")
        bad = set(m) - MATRIX_KEYS
        if bad:
            raise MatrixError(f"{where}: unknown key(s) in [matrix]: {', '.join(sorted(bad))}; "
                              f"known: {', '.join(sorted(MATRIX_KEYS))}")
        axes = _axes(f"{where}: [matrix]", m, AXES)
        for k in ("save", "load"):
            if k not in axes:
                raise MatrixError(f"{where}: matrix.{k} must list at least one TF version")
        devices = axes.pop("devices", None)
        mx = cls(save=axes["save"], load=axes["load"], models=axes.get("models"),
                 formats=axes.get("formats"), loaders=axes.get("loaders"),
                 save_devices=axes.get("save_devices") or devices or ["cpu"],
                 load_devices=axes.get("load_devices") or devices or ["cpu"],
                 variants=axes.get("variants", []), as_of=_as_of(where, m.get("as_of")),
                 name=_text(where, "name", m.get("name")), source=where)
        _text(where, "description", m.get("description"))
        for i, inc in enumerate(_tables(where, data, "include"), 1):
            bad = sorted(set(inc) - INCLUDE_KEYS)
            if bad:
                raise MatrixError(f"{where}: [[include]] #{i}: unknown key {bad[0]!r}; known: "
                                  f"{', '.join(sorted(INCLUDE_KEYS))}")
            if not inc:
                raise MatrixError(f"{where}: [[include]] #{i} is empty")
            mx.includes.append(_axes(f"{where}: [[include]] #{i}", inc, INCLUDE_KEYS))
        mx.excludes = [Rule.parse(f"{where}: [[exclude]] #{i + 1}", t)
                       for i, t in enumerate(_tables(where, data, "exclude"))]
        mx.tolerances = _parse_tolerances(where, data.get("tolerances", {}))
        mx.validate()
        return mx

    def validate(self) -> None:
        """Every axis value known, every version spec parseable: fail before any install."""
        try:
            for axis in self._axes_list():
                self._specs(axis["save"], axis["save_devices"])
                self._specs(axis["load"], axis["load_devices"])
                pick("model", axis["models"], MODELS)
                pick("format", axis["formats"], FORMATS)
                pick("loader", axis["loaders"], ALL_LOADERS)
        except (SpecError, PlanError) as exc:
            raise MatrixError(f"{self.source or 'matrix'}: {exc}") from None
        for v in self.variants:
            if v != "tf_keras" and not v.startswith("keras=="):
                raise MatrixError(f"{self.source or 'matrix'}: unknown variant {v!r}; "
                                  "expected tf_keras or keras==X.Y.Z")

    def _axes_list(self) -> list[dict]:
        main = {"save": self._with_variants(self.save), "load": self._with_variants(self.load),
                "models": self.models, "formats": self.formats, "loaders": self.loaders,
                "save_devices": self.save_devices, "load_devices": self.load_devices}
        out = [main]
        for inc in self.includes:
            d = dict(main)
            dev = inc.get("devices")
            d |= {k: v for k, v in inc.items() if k != "devices"}
            if dev:
                d["save_devices"] = inc.get("save_devices", dev)
                d["load_devices"] = inc.get("load_devices", dev)
            out.append(d)
        return out

    def _with_variants(self, versions: list[str]) -> list[str]:
        out = list(versions)
        for v in versions:
            spec = EnvSpec.parse(v)
            for var in self.variants:
                if spec.variant or (var == "tf_keras" and spec.minor < (2, 16)):
                    continue  # tf_keras exists only where Keras 3 is the default
                out.append(f"{spec.tf}+{var}")
        return list(dict.fromkeys(out))

    @staticmethod
    def _specs(versions: list[str], devices: list[str]) -> list[EnvSpec]:
        bad = [d for d in devices if d not in DEVICES]
        if bad:
            raise SpecError(f"unknown device {', '.join(bad)}; known: {', '.join(DEVICES)}")
        return [EnvSpec.parse(v, device=d) for v in versions for d in devices]

    # -- what it means ----------------------------------------------------------------
    def cells(self) -> list[Cell]:
        main, *includes = self._axes_list()
        try:
            cells = [c for c in plan_cells(self._specs(main["save"], main["save_devices"]),
                                           self._specs(main["load"], main["load_devices"]),
                                           main["models"], main["formats"], main["loaders"])
                     if not any(r.matches(c) for r in self.excludes)]
        except PlanError:
            cells = []
        for axis in includes:
            try:
                cells += plan_cells(self._specs(axis["save"], axis["save_devices"]),
                                    self._specs(axis["load"], axis["load_devices"]),
                                    axis["models"], axis["formats"], axis["loaders"])
            except PlanError:
                continue
        cells = list(dict.fromkeys(cells))
        if not cells:
            raise MatrixError(f"{self.source or 'matrix'}: the spec leaves no cells")
        return cells

    def tolerance(self, fmt: str, dtype: str) -> tuple[float, float] | None:
        """The override for predictions of this format and dtype, or None (judge's defaults)."""
        return self.tolerances.get((fmt, dtype)) or self.tolerances.get(("*", dtype))

    # -- run.json round trip ------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["excludes"] = [r.as_dict() for r in self.excludes]
        d["tolerances"] = [{"format": f, "dtype": t, "rtol": r, "atol": a}
                           for (f, t), (r, a) in sorted(self.tolerances.items())]
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "stored matrix") -> Matrix:
        """The matrix a run.json holds; anything else is one MatrixError naming `where`."""
        try:
            d = dict(d)
            d["excludes"] = [Rule.parse(f"{where}: exclude", r) for r in d.get("excludes", [])]
            d["tolerances"] = {(str(t["format"]), str(t["dtype"])):
                               (float(t["rtol"]), float(t["atol"]))
                               for t in d.get("tolerances", [])}
            known = set(cls.__dataclass_fields__)
            mx = cls(**{k: v for k, v in d.items() if k in known})
            for k in ("save", "load"):
                _strings(f"{where}: {k}", getattr(mx, k))
            mx.source = mx.source if isinstance(mx.source, str) else where
            mx.validate()
        except MatrixError:
            raise
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise MatrixError(f"{where}: not a matrix this harness wrote "
                              f"({type(exc).__name__}: {_short(exc)})") from None
        return mx


def _read_toml(path: Path) -> dict:
    """The file's TOML, or one line naming the file and what is wrong with it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MatrixError(f"matrix spec {path} does not exist") from None
    except IsADirectoryError:
        raise MatrixError(f"matrix spec {path} is a folder, not a TOML file") from None
    except OSError as exc:
        raise MatrixError(f"matrix spec {path}: cannot read it ({exc.strerror})") from None
    if not raw.strip():
        raise MatrixError(f"{path}: empty file; a matrix spec needs a [matrix] table")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MatrixError(f"{path}: not a text file (not UTF-8: binary?)") from None
    if "\0" in text:
        raise MatrixError(f"{path}: not a text file (it holds NUL bytes)")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError(f"{path}: bad TOML: {str(exc).splitlines()[0]}") from None


def _axes(where: str, table: dict, keys) -> dict[str, list[str]]:
    """The axes of a [matrix] or [[include]] table: lists of strings, none of them empty."""
    out = {}
    for k in (k for k in AXES if k in keys and k in table):
        values = _strings(f"{where} {k}", table[k])
        if not values or not all(v.strip() for v in values):
            raise MatrixError(f"{where} {k} is empty" if not values else
                              f"{where} {k}: holds an empty name")
        out[k] = values
    return out


def _text(where: str, key: str, value) -> str | None:
    if value is not None and not isinstance(value, str):
        raise MatrixError(f"{where}: [matrix] {key} must be a string, got {value!r}")
    return value


def _as_of(where: str, value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = value.isoformat()  # TOML reads an unquoted 2024-01-01 as a date
    try:
        parse_as_of(value, "[matrix] as_of")
    except SpecError as exc:
        raise MatrixError(f"{where}: {exc}") from None
    return value


def _tables(where: str, data: dict, key: str) -> list[dict]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise MatrixError(f"{where}: {key} must be written as [[{key}]] tables")
    return value


def _pair(where: str, value) -> tuple[float, float]:
    if isinstance(value, dict) and set(value) == {"rtol", "atol"}:
        r, a = value["rtol"], value["atol"]
    elif isinstance(value, list) and len(value) == 2:
        r, a = value
    else:
        raise MatrixError(f"{where}: expected {{ rtol = R, atol = A }}, got {value!r}")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0
               for x in (r, a)):
        raise MatrixError(f"{where}: rtol and atol must be non-negative numbers")
    return float(r), float(a)


def _parse_tolerances(where: str, table) -> dict[tuple[str, str], tuple[float, float]]:
    if not isinstance(table, dict):
        raise MatrixError(f"{where}: [tolerances] must be a table")
    out = {}
    for key, value in table.items():
        if key in DTYPES:
            out[("*", key)] = _pair(f"{where}: tolerances.{key}", value)
        elif key in FORMATS:
            if not isinstance(value, dict):
                raise MatrixError(f"{where}: tolerances.{key} must be a table of dtypes")
            for dtype, pair in value.items():
                if dtype not in DTYPES:
                    raise MatrixError(f"{where}: tolerances.{key}: unknown dtype {dtype!r}; "
                                      f"known: {', '.join(DTYPES)}")
                out[(key, dtype)] = _pair(f"{where}: tolerances.{key}.{dtype}", pair)
        else:
            raise MatrixError(f"{where}: tolerances: {key!r} is neither a dtype "
                              f"({', '.join(DTYPES)}) nor a format ({', '.join(FORMATS)})")
    return out


def from_flags(save: list[str], load: list[str], models=None, formats=None, loaders=None,
               devices=None, save_devices=None, load_devices=None, as_of=None,
               baseline: bool = True) -> Matrix:
    """`--save X --load Y`: X -> Y, and with `baseline` each X -> X too (the same saves loaded
    once more), so that a failure under Y can be told from one X already has."""
    mx = Matrix(save=list(save), load=list(load), models=models, formats=formats,
                loaders=loaders, save_devices=save_devices or devices or ["cpu"],
                load_devices=load_devices or devices or ["cpu"], as_of=as_of,
                source="command line")
    if baseline:
        mx.includes = [{"save": [x], "load": [x]} for x in dict.fromkeys(save) if x not in load]
    mx.validate()
    return mx
