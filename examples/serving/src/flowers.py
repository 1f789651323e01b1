"""The serving example's code: prepare the measurements, train a classifier on them, and answer
questions about the prepared data. `prepare` and `train` are python jobs (digitalhub-runtime-
python); `init` and `serve` are the python service's init function and handler (DHCore's serve
action: `init` once with the service's init_parameters, `serve` per request, nuclio style)."""

import pickle
import tempfile
from pathlib import Path

from digitalhub_runtime_python import handler

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SPECIES = ["setosa", "versicolor", "virginica"]


@handler(outputs=["dataset"])
def prepare(project, flowers):
    """Keep complete measurements of the known species, numbered for training."""
    df = flowers.as_df().dropna()
    df = df[df["species"].isin(SPECIES)].copy()
    df["label"] = df["species"].map(SPECIES.index)
    # a table in the platform's files store, where the training run and the API read it
    return project.log_dataitem("flowers-prepared", kind="table", data=df)


@handler(outputs=["model", "accuracy"])
def train(project, dataset, C: float = 1.0):
    """A logistic regression of the species on the four measurements."""
    from sklearn.linear_model import LogisticRegression

    df = dataset.as_df()
    model = LogisticRegression(C=float(C), max_iter=1000).fit(df[FEATURES].values, df["label"].values)
    accuracy = float(model.score(df[FEATURES].values, df["label"].values))
    folder = Path(tempfile.mkdtemp()) / "model"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    logged = project.log_model(  # uploaded to the platform's files store, where the server reads it
        "flower-classifier",
        kind="sklearn",
        source=str(folder) + "/",
        framework="sklearn",
        algorithm="LogisticRegression",
        parameters={"C": float(C)},
    )
    return logged, accuracy


def init(context, dataset):
    """Once, when the service starts: load the prepared data."""
    context.flowers = context.project.get_dataitem(dataset).as_df()


def serve(context, event):
    """Per request: how many flowers of a species (?species=NAME) and their mean measurements."""
    flowers = context.flowers
    species = event.fields.get("species")
    if species:
        flowers = flowers[flowers["species"] == species]
    return {
        "species": species or "all",
        "count": len(flowers),
        "mean": {f: round(float(flowers[f].mean()), 2) for f in FEATURES} if len(flowers) else {},
    }
