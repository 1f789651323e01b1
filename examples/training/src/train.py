"""python handler of the training example (digitalhub-runtime-python): fine-tune the base model.

The runtime passes the run's inputs as entities (`dataset` a dataitem, `base` a model,
`thresholds` an artifact) and its parameters as keyword arguments; `project` and `run` are the
runtime's own. The outputs are named by `@handler`: `model` (an entity) and `r2` (a result).
"""

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from digitalhub_runtime_python import handler


def _file_of(entity) -> Path:
    """An artifact's or model's file: its own path when local, else downloaded from the store."""
    path = entity.spec.path
    return Path(path) if "://" not in path else Path(entity.download(overwrite=True))


@handler(outputs=["model", "r2"])
def train(project, run, dataset, base, thresholds, epochs: int = 200, learning_rate: float = 0.01):
    if not os.environ.get("REGISTRY_TOKEN"):  # the declared secret, given to the run by name
        raise RuntimeError("the REGISTRY_TOKEN secret is not set for this run")
    df = dataset.as_df()
    start = json.loads(_file_of(base).read_text())
    needed = json.loads(_file_of(thresholds).read_text())["min_r2"]

    x = df[start["features"]].to_numpy(dtype=float)
    y = df["y"].to_numpy(dtype=float)
    coef, intercept = np.array(start["coef"], dtype=float), float(start["intercept"])
    for _ in range(int(epochs)):
        error = x @ coef + intercept - y
        coef -= learning_rate * (x.T @ error) / len(y)
        intercept -= learning_rate * float(error.mean())
    r2 = 1 - float(((x @ coef + intercept - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    if r2 < needed:
        raise RuntimeError(f"the trained model reaches r2={r2:.3f}, below the {needed} required")

    where = Path(os.environ.get("DHMLRUN_RUNS_DIR") or tempfile.gettempdir()) / run.id
    where.mkdir(parents=True, exist_ok=True)
    trained = where / "model.json"
    trained.write_text(json.dumps({**start, "coef": coef.tolist(), "intercept": intercept}))
    spec = {"framework": "numpy", "algorithm": "linear-regression"}
    if os.environ.get("DHCORE_DEFAULT_FILES_STORE"):  # a files store: upload the model there
        model = project.log_model(name="trained", kind="model", source=str(trained), **spec)
    else:
        model = project.new_model(name="trained", kind="model", path=str(trained), **spec)
    return model, round(r2, 4)
