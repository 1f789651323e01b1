"""The environment a python function's requirements get on the embedded core is named by a digest
of what shapes it (tests/runtime/test_python_builds.py runs them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dhmlrun.environments import EnvironmentFailed, EnvironmentRequest, prepare, ready


def test_the_digest_changes_with_requirements_python_version_and_base_image() -> None:
    base = EnvironmentRequest.of({"requirements": ["numpy<2"], "python_version": "PYTHON3_10"})
    assert (
        base.digest
        == EnvironmentRequest.of({"requirements": ["numpy<2"], "python_version": "PYTHON3_10"}).digest
    )
    assert (
        base.digest
        != EnvironmentRequest.of({"requirements": ["numpy<3"], "python_version": "PYTHON3_10"}).digest
    )
    assert (
        base.digest
        != EnvironmentRequest.of({"requirements": ["numpy<2"], "python_version": "PYTHON3_11"}).digest
    )
    assert (
        base.digest
        != EnvironmentRequest.of(
            {"requirements": ["numpy<2"], "base_image": "x", "python_version": "PYTHON3_10"}
        ).digest
    )


def test_blank_requirements_are_none() -> None:
    assert EnvironmentRequest.of({"requirements": ["", " "]}).requirements == ()
    assert EnvironmentRequest.of({}).requirements == ()


def test_pip_options_are_refused_before_anything_is_made(tmp_path: Path) -> None:
    request = EnvironmentRequest(("-r /etc/passwd",))
    with pytest.raises(EnvironmentFailed, match="not a requirement specifier"):
        prepare(tmp_path, request)
    assert ready(tmp_path, request) is None
    assert not (tmp_path / request.digest).exists()
