"""The migration routes, in the order they are tried.  A route is a list of steps, each run by
the worker's `migrate` phase (harness/worker/migrate.py) in one environment:

- `producer`: the TF that wrote the artifact (from its bytes or --tf);
- `legacy`: the target's legacy Keras (`<target>+tf_keras`), which still reads Keras 2 files;
- `target`: the first --to version, whose TF writes the migrated artifact.

Which route works for which break is measured, not assumed: docs/migration.md.
"""

from __future__ import annotations

from dataclasses import dataclass

KERAS = "keras"  # the migrated artifact: a `.keras` zip, proven by keras.models.load_model
SERVING = "savedmodel"  # a SavedModel with explicit signatures, proven by tf.saved_model.load
PROOF_LOADER = {KERAS: "keras.models.load_model", SERVING: "tf.saved_model.load"}
OUTPUT_ENTRY = {KERAS: "model.keras", SERVING: "savedmodel"}

# What `harness migrate` reads: Keras model files, SavedModels, Keras weights files and TF2
# object checkpoints of a Keras model (its architecture from code: the zoo's or build_model()).
KERAS_FILES = ("h5", "keras", "keras-v3")
SAVEDMODELS = ("savedmodel", "keras-savedmodel")
WEIGHTS = ("weights-h5", "weights-h5-v3", "weights-tf", "tf-checkpoint")
MIGRATABLE = KERAS_FILES + SAVEDMODELS + WEIGHTS


@dataclass(frozen=True)
class Route:
    name: str
    output: str  # KERAS or SERVING
    steps: tuple[tuple[str, str], ...]  # (environment role, worker step)
    what: str  # one line for --plan and the report

    @property
    def roles(self) -> list[str]:
        return [role for role, _ in self.steps]


ROUTES = (
    Route("target-load", KERAS, (("target", "save-keras"),),
          "load in the target with the documented workarounds (compile=False, custom_objects, "
          "an HDF5 file under its .h5 name, weights into the rebuilt architecture) and save "
          "model.keras there"),
    Route("producer-handoff", KERAS, (("producer", "export"), ("target", "save-keras")),
          "load in the producer's TF, hand over a legacy HDF5 model without optimizer (or config "
          "JSON + legacy HDF5 weights for a subclassed model), rebuild in the target, save "
          "model.keras"),
    Route("legacy-keras-handoff", KERAS, (("legacy", "export"), ("target", "save-keras")),
          "as producer-handoff, read by the target's legacy Keras (tf_keras) instead of the "
          "producer's TF"),
    Route("target-reexport", SERVING, (("target", "export-savedmodel"),),
          "load in the target (a Keras model where it can, else tf.saved_model.load) and save a "
          "SavedModel with an explicit serving_default signature"),
    Route("producer-reexport", SERVING, (("producer", "export-savedmodel"),),
          "load in the producer's TF and re-export a SavedModel with an explicit "
          "serving_default signature"),
    Route("legacy-keras-reexport", SERVING, (("legacy", "export-savedmodel"),),
          "as producer-reexport, under the target's legacy Keras (tf_keras)"),
)


def routes_for(output: str) -> list[Route]:
    return [r for r in ROUTES if r.output == output]
