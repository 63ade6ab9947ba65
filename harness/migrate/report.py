"""What `harness migrate` prints and keeps: each route tried, its steps with the environment and
the library's own message, its proof cells, the migrated artifact (or that none was written),
and whether the optimizer state came along."""

from __future__ import annotations

from pathlib import Path

from .routes import PROOF_LOADER, Route


def header(fx, targets: list[str], output: str, dest: Path) -> list[str]:
    ref = fx.reference
    return [f"{(fx.data.get('origin') or {}).get('source') or fx.path}",
            f"  format {fx.format} (from the bytes), written by TF {fx.save_tf}"
            + (f" / Keras {fx.producer['keras']}" if fx.producer.get("keras") else "")
            + f" ({fx.producer.get('source') or 'not recorded'})",
            f"  inputs: {fx.data.get('inputs_source')}",
            f"  reference: {ref.get('detail') or ref.get('source')}",
            *([f"  proof reference: {fx.data['migrate_reference']}"]
              if fx.data.get("migrate_reference") else []),
            f"  wanted: {dest} ({output}), proven by `{proof_call(fx, output)}` under "
            f"{', '.join(targets)}", ""]


def proof_call(fx, output: str) -> str:
    """The call the proof makes, as the user will make it."""
    if fx.custom_objects and PROOF_LOADER[output] == "keras.models.load_model":
        return ("keras.models.load_model(path, custom_objects=<the classes and functions of "
                "your --custom-objects file>)")
    return PROOF_LOADER[output]


def plan_lines(fmt: str, producer: str | None, targets: list[str], routes: list[Route],
               spec_of) -> list[str]:
    lines = [f"format {fmt}, producer TF {producer or 'not recorded'}; target "
             f"{', '.join(targets)}", "routes, tried in this order until one proves out:"]
    for i, r in enumerate(routes, 1):
        where = ", ".join(f"{step} under {spec_of(role) or f'(no {role} environment)'}"
                          for role, step in r.steps)
        lines.append(f"  {i}. {r.name}: {r.what}")
        lines.append(f"     steps: {where}; proof: `{PROOF_LOADER[r.output]}` under "
                     f"{', '.join(targets)} against the original's reference")
    lines.append("nothing written (--plan)")
    return lines


def route_lines(i: int, outcome) -> list[str]:
    from ..verdict.decide import row_error, row_figures

    r = outcome.route
    status = "PASS" if outcome.status == "pass" else outcome.status
    lines = [f"route {i} {r.name}: {status}"]
    for s in outcome.steps:
        notes = s.get("notes") or {}
        shown = dict(notes)
        if shown.get("keras_load"):
            shown["keras_load"] = f"no Keras model here ({shown['keras_load'][:160]}...)"
        how = "; ".join(str(shown[k]) for k in ("read_as", "loaded", "handoff", "rebuilt",
                                                "keras_load", "saved", "exported")
                        if shown.get(k))
        lines.append(f"  {s['step']:<17} under {s.get('env')}: {s.get('status')}"
                     + (f"  {how}" if how else ""))
        if s.get("error"):
            lines.append(f"    {s['error'][:300]}")
    for row in outcome.rows:
        v = row.get("load_versions") or {}
        what = row_figures(row) if row["status"] == "pass" else \
            "; ".join(x for x in (row_figures(row), row_error(row, 200)) if x)
        lines.append(f"  proof {row['load_tf']} (tf {v.get('tf')}, keras {v.get('keras')}): "
                     f"{row['status']}" + (f"  {what}" if what else ""))
    if outcome.status not in ("pass",) and outcome.message and not any(
            s.get("error") for s in outcome.steps):
        lines.append(f"  {outcome.message[:300]}")
    return lines


def optimizer_line(outcome) -> str:
    if outcome.route.output != "keras":
        return ("optimizer state: not in a serving SavedModel (inference only); keep the "
                "original, or migrate to .keras, to train on")
    held = None
    for s in outcome.steps:
        held = held or (s.get("notes") or {}).get("optimizer_in_artifact")
    if held:
        return (f"optimizer state: NOT migrated: the original holds {held} state; the migrated "
                "model is saved without an optimizer: compile it again before training (the "
                "moments and the iteration count start from zero)")
    return ("optimizer state: none found in the original (nothing to migrate); compile the "
            "migrated model before training")


def render(fx, targets: list[str], output: str, dest: Path, outcomes: list, winner,
           report: Path) -> str:
    lines = header(fx, targets, output, dest)
    for i, o in enumerate(outcomes, 1):
        lines += route_lines(i, o) + [""]
    if winner is not None:
        lines.append(f"migrated: {dest} (route {winner.route.name}; every parameter "
                     f"bit-identical, predictions within tolerance under {', '.join(targets)})")
        lines.append(optimizer_line(winner))
    else:
        lines.append(f"no route proved out: nothing written but the report ({len(outcomes)} "
                     "route(s) tried; each one's message above)")
        if output == "keras" and fx.format == "savedmodel":
            lines.append("  a tf.saved_model.save SavedModel holds no Keras metadata, so no "
                         "Keras gives a Keras model back: migrate it for serving instead "
                         "(--out DIR)")
    lines.append(f"report: {report}  (proof runs beside it: harness show / report work on them)")
    return "\n".join(lines)
