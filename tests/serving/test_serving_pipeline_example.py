"""examples/serving/pipeline.yaml: the serving example with its jobs chained by a hera pipeline the
platform runs instead of by apply: the pipeline's steps prepare and train, its output parameters
(the entity keys its steps wrote) are the run's outputs, the services serve what it trained, a
retrain runs the pipeline again and redeploys the classifier; `--path` takes the root file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.serving.conftest import port_closed
from tests.serving.test_apply_services import apply_serving, dhmlrun
from tests.serving.test_serving_example import FLOWERS, example  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow


def test_the_pipeline_variant_trains_on_the_platform_and_serves_the_model(example: Path) -> None:  # noqa: F811
    root = example / "pipeline.yaml"
    first = apply_serving(root)
    assert set(first) == {"services.classifier", "services.api"}
    shown = json.loads(dhmlrun("show", "runs.pipeline", "--path", str(root), "--json").stdout)
    outputs = json.dumps(shown)
    assert "flower-classifier" in outputs and "flowers-prepared" in outputs

    predicted = dhmlrun("invoke", "services.classifier", "--path", str(root), "--json", json.dumps(FLOWERS))
    assert json.loads(predicted.stdout)["outputs"][0]["data"] == [0, 2]
    assert dhmlrun("plan", str(root), "--detailed-exitcode").returncode == 0

    retrain = dhmlrun("plan", str(root), "--var", "C=0.05")
    assert "> runs.pipeline  (run spec changed)" in retrain.stdout
    assert "~ services.classifier  (model changed: a new version from runs.pipeline" in retrain.stdout
    assert dhmlrun("destroy", str(root), "--auto-approve").returncode == 0
    assert port_closed(first["services.classifier"]) and port_closed(first["services.api"])
