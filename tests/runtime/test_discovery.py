"""The SDK discovers the runtime by module name, from outside the repo, without importing mlrun."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import sys
from digitalhub.factory.entity import entity_factory
from digitalhub.factory.registry import registry

function = entity_factory.build_entity_from_params(
    kind="mlrun", project="p", name="f", source={"code": "def h(context):\\n    pass\\n"}, handler="h"
)
assert function.spec.source["base64"], function.spec.source
assert entity_factory.get_task_kind_from_action("mlrun", "job") == "mlrun+job"
assert entity_factory.get_run_kind_from_action("mlrun", "job") == "mlrun+job:run"
registry.get_runtime_builder("mlrun+job:run")
print("mlrun imported:", "mlrun" in sys.modules)
"""


@pytest.mark.slow
def test_sdk_finds_the_kinds_and_scanning_does_not_import_mlrun(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "mlrun imported: False" in done.stdout
