"""examples/serving as its README shows it, from a copy of the repository's folder: apply (two
python jobs, then the classifier and the API served), one inference and one API request, a
retrain that redeploys the classifier in the same apply, and destroy with every port closed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.conftest import end_services_of, port_closed
from tests.serving.test_apply_services import apply_serving, dhmlrun

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "serving"
FLOWERS = {
    "inputs": [
        {
            "name": "measurements",
            "shape": [2, 4],
            "datatype": "FP64",
            "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]],
        }
    ]
}


@pytest.fixture
def example(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "serving"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".dhmlrun"))
    try:
        yield root
    finally:
        end_services_of(root)


def test_the_serving_example_applies_answers_redeploys_after_a_retrain_and_is_destroyed(
    example: Path,
) -> None:
    first = apply_serving(example)
    assert set(first) == {"services.classifier", "services.api"}

    predicted = dhmlrun(
        "invoke", "services.classifier", "--path", str(example), "--json", json.dumps(FLOWERS)
    )
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)["outputs"][0]["data"] == [0, 2]  # a setosa, a virginica
    counted = dhmlrun("invoke", "services.api", "--path", str(example), "--request-path", "/?species=setosa")
    assert json.loads(counted.stdout)["count"] == 50
    assert dhmlrun("plan", str(example), "--detailed-exitcode").returncode == 0

    retrain = dhmlrun("plan", str(example), "--var", "C=0.05")
    assert "> runs.train  (run spec changed)" in retrain.stdout
    assert (
        "~ services.classifier  (model changed: a new version from runs.train (it runs first))"
        in retrain.stdout
    )
    second = apply_serving(example, "--var", "C=0.05")
    assert set(second) == {"services.classifier"} and port_closed(first["services.classifier"])
    again = dhmlrun("invoke", "classifier", "--path", str(example), "--json", json.dumps(FLOWERS))
    assert json.loads(again.stdout)["outputs"][0]["data"][0] == 0

    assert dhmlrun("destroy", str(example), "--auto-approve").returncode == 0
    assert port_closed(second["services.classifier"]) and port_closed(first["services.api"])
