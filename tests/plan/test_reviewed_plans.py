"""A saved plan is applied only as reviewed (issue 21, item 2).

The plan file travels between CI jobs: whoever can write it could swap a function's code, change
a parameter or add an action after the review. Apply makes the plan again from the configuration
it is pointed at and refuses any difference, before anything is written or run.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dhmlrun.api import open_platform
from tests.plan.conftest import copy_example, dhmlrun, unique_env

PWNED = "import pathlib\n\ndef downloader(context, url):\n    pathlib.Path(MARKER).write_text('ran')\n"


@pytest.fixture
def planned(core: Any, tmp_path: Path) -> tuple[Path, Path, str]:
    """The example planned for a fresh project, saved: (config dir, plan file, env)."""
    root = copy_example(tmp_path)
    env = unique_env()
    saved = tmp_path / "reviewed.plan"
    made = dhmlrun("plan", root, "--var", f"env={env}", "--out", saved)
    assert made.exit_code == 0, (made.output, made.exception)
    return root, saved, env


def _edit(saved: Path, change: Any) -> None:
    data = json.loads(saved.read_text())
    change(data)
    saved.write_text(json.dumps(data))


def _action(data: dict[str, Any], address: str) -> dict[str, Any]:
    return next(a for a in data["actions"] if a["address"] == address)


def _nothing_happened(root: Path, env: str) -> None:
    with open_platform(root) as platform:
        assert not platform.project_exists(f"employees-{env}")


def test_swapped_function_code_is_refused_before_anything_runs(planned, tmp_path: Path) -> None:
    root, saved, env = planned
    marker = tmp_path / "marker"
    code = base64.b64encode(PWNED.replace("MARKER", repr(str(marker))).encode()).decode()

    def swap(data: dict[str, Any]) -> None:
        _action(data, "functions.downloader")["body"]["spec"]["source"]["base64"] = code

    _edit(saved, swap)
    refused = dhmlrun("apply", saved, "--path", root)
    assert refused.exit_code == 1
    message = str(refused.exception)
    assert "the saved plan is not what the configuration in" in message
    assert "functions.downloader: body.spec.source.base64 differs" in message
    assert code not in message
    assert not marker.exists()
    _nothing_happened(root, env)


def test_a_changed_parameter_is_refused(planned) -> None:
    root, saved, env = planned

    def change(data: dict[str, Any]) -> None:
        _action(data, "runs.summary")["request"]["parameters"]["min_years"] = 0

    _edit(saved, change)
    refused = dhmlrun("apply", saved, "--path", root)
    assert refused.exit_code == 1
    assert "runs.summary: request.parameters.min_years differs" in str(refused.exception)
    _nothing_happened(root, env)


def test_an_added_action_is_refused(planned) -> None:
    root, saved, env = planned

    def add(data: dict[str, Any]) -> None:
        extra = copy.deepcopy(_action(data, "runs.download"))
        extra["address"] = "runs.extra"
        data["actions"].append(extra)

    _edit(saved, add)
    refused = dhmlrun("apply", saved, "--path", root)
    assert refused.exit_code == 1
    assert "runs.extra: in the plan, not yielded by the configuration now" in str(refused.exception)
    _nothing_happened(root, env)


def test_code_changed_in_the_checkout_after_review_is_refused(planned) -> None:
    root, saved, env = planned
    source = root / "src" / "pipeline.py"
    source.write_text(source.read_text() + "\nprint('added after the review')\n")
    refused = dhmlrun("apply", saved, "--path", root)
    assert refused.exit_code == 1
    message = str(refused.exception)
    assert "functions.downloader: body.spec.source.base64 differs" in message
    assert "runs.download: " in message  # its fingerprint follows the code
    _nothing_happened(root, env)


def test_an_untouched_plan_applies_in_another_checkout(core: Any, tmp_path: Path) -> None:
    """The same configuration in another directory makes the same plan: paths below the config
    directory count as equal, and the plan applied is the one made there."""
    root = copy_example(tmp_path / "a")
    env = unique_env()
    saved = tmp_path / "data.plan"
    args = ("--var", f"env={env}", "--target", "dataitems.employees")
    assert dhmlrun("plan", root, *args, "--out", saved).exit_code == 0
    other = copy_example(tmp_path / "b")
    (root / "data" / "employees.csv").unlink()  # the checkout applied is `other`: `root` is not read
    applied = dhmlrun("apply", saved, "--path", other)
    assert applied.exit_code == 0, (applied.output, applied.exception)
    with open_platform(other) as platform:
        dataitem = platform.read_state(f"employees-{env}").entities["dataitems.employees"]
    # `other`'s file, uploaded to the embedded core's files store
    path = dataitem.spec["path"]
    assert path.startswith("s3://dhcore/") and path.endswith("/employees.csv")


def test_sensitive_values_are_kept_as_salted_digests(core: Any, tmp_path: Path) -> None:
    """Issue 21: an unsalted SHA-256 of a 6-digit value was reversed in 0.3 s."""
    (tmp_path / "dhmlrun.yaml").write_text(
        'version: 1\nproject: {name: "pin-{{ var.env }}"}\nvariables:\n  env: {default: dev}\n'
        "  pin: {default: '', sensitive: true}\nfunctions:\n"
        "  f: {kind: mlrun, source: {code: \"def h(context, pin=''):\\n    pass\\n\"}, handler: h}\n"
        'runs:\n  r: {function: functions.f, action: job, parameters: {pin: "{{ var.pin }}"}}\n'
    )
    saved = tmp_path / "pin.plan"
    made = dhmlrun("plan", tmp_path, "--var", f"env={unique_env()}", "--var", "pin=123456", "--out", saved)
    assert made.exit_code == 0
    sensitive = json.loads(saved.read_text())["sensitive"]
    assert "sha256" not in sensitive
    (digest,) = sensitive["scrypt"].values()
    assert digest.startswith("scrypt1.")
    import hashlib

    assert hashlib.sha256(b"123456").hexdigest() not in saved.read_text()
