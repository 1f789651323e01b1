"""Fuzzing the loader: whatever the input, the only exception is DhmlrunError."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dhmlrun.config import load_declaration
from dhmlrun.errors import DhmlrunError
from tests.conftest import examples

from .conftest import EXAMPLE

EXAMPLE_TEXT = (EXAMPLE / "dhmlrun.yaml").read_text()
EXAMPLE_DATA = yaml.safe_load(EXAMPLE_TEXT)
# 800 cases per test, 2,400 in all with --hypothesis-profile=full (issue 6 asks for a few thousand;
# about 20 s on this machine); 100 per test on every commit.
FUZZ = settings(max_examples=examples(800), deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.slow

yaml_alphabet = st.sampled_from([*"abcxyz019 -:{}[],&*!|>'\"#%@`\t\n.?=<~", "{{", "}}", "{%", "\r\n"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["{{ var.env }}", "{{ nope }}", "{{ 1/0 }}", "dataitems.employees", "runs.x.outputs.y"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the example per module; each example rewrites its dhmlrun.yaml."""
    target = tmp_path_factory.mktemp("fuzz") / "employees"
    shutil.copytree(EXAMPLE, target)
    return target


def loads_or_refuses(root: Path) -> None:
    try:
        load_declaration(root, environ={})
    except DhmlrunError as exc:
        assert exc.problems and all(p.message for p in exc.problems)


@FUZZ
@given(st.lists(yaml_alphabet, max_size=200).map("".join))
def test_random_yaml_like_text(root: Path, text: str) -> None:
    (root / "dhmlrun.yaml").write_text(text)
    loads_or_refuses(root)


@FUZZ
@given(st.data())
def test_random_text_mutations_of_the_example(root: Path, data: st.DataObject) -> None:
    text = EXAMPLE_TEXT
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 30)))
        text = text[:start] + data.draw(st.lists(yaml_alphabet, max_size=6).map("".join)) + text[end:]
    (root / "dhmlrun.yaml").write_text(text)
    loads_or_refuses(root)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


@FUZZ
@given(st.data())
def test_random_values_placed_in_the_example(root: Path, data: st.DataObject) -> None:
    document = copy.deepcopy(EXAMPLE_DATA)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(document)[1:]))
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = data.draw(values)
    (root / "dhmlrun.yaml").write_text(yaml.safe_dump(document))
    loads_or_refuses(root)
