"""The config loader fuzzed for a few thousand cases (the config suite runs a few hundred):
whatever the input, the only exception is DhmlrunError, with a message."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.config.conftest import EXAMPLE
from tests.config.test_fuzz import EXAMPLE_DATA, EXAMPLE_TEXT, _paths, loads_or_refuses, values, yaml_alphabet

pytestmark = pytest.mark.slow

MANY = settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("fuzz-many") / "employees"
    shutil.copytree(EXAMPLE, target)
    return target


@MANY
@given(st.lists(yaml_alphabet, max_size=300).map("".join))
def test_random_yaml_like_text(root: Path, text: str) -> None:
    (root / "dhmlrun.yaml").write_text(text)
    loads_or_refuses(root)


@MANY
@given(st.data())
def test_random_text_mutations_of_the_example(root: Path, data: st.DataObject) -> None:
    text = EXAMPLE_TEXT
    for _ in range(data.draw(st.integers(1, 6))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 40)))
        text = text[:start] + data.draw(st.lists(yaml_alphabet, max_size=8).map("".join)) + text[end:]
    (root / "dhmlrun.yaml").write_text(text)
    loads_or_refuses(root)


@MANY
@given(st.data())
def test_random_values_placed_in_the_example(root: Path, data: st.DataObject) -> None:
    document = copy.deepcopy(EXAMPLE_DATA)
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(_paths(document)[1:]))
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = data.draw(values)
    (root / "dhmlrun.yaml").write_text(yaml.safe_dump(document))
    loads_or_refuses(root)
