"""The compiled yes/no schema check must agree with jsonschema on every document."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from dhmlrun.config.fastcheck import Unsupported, compile_check, json_equal
from dhmlrun.config.schema import ROOT_SCHEMA, bundled_schema, load_schemas
from tests.conftest import examples

from .test_fuzz import _paths

FULL: dict[str, Any] = {
    "version": 1,
    "include": ["more/*.yaml"],
    "project": {"name": "demo", "description": "d", "labels": ["a"]},
    "variables": {"env": {"default": "dev", "description": "x", "sensitive": False, "type": "string"}},
    "environments": {"prod": {"variables": {"env": "prod"}, "profile": "p"}},
    "dataitems": {
        "d": {"kind": "table", "path": "x.csv", "labels": ["l"], "lifecycle": {"prevent_destroy": True}}
    },
    "functions": {
        "f": {
            "kind": "mlrun",
            "source": {"source": "a.py", "handler": "h", "lang": "python"},
            "handler": "h",
            "image": "i",
            "tag": "t",
            "requirements": ["pandas"],
        }
    },
    "runs": {
        "r": {
            "function": "f",
            "action": "job",
            "inputs": [{"x": "dataitems.d"}],
            "outputs": {"o": "out"},
            "parameters": {"a": 1},
            "values": ["v"],
            "trigger": "once",
            "execution": "remote",
            "node_selector": [{"key": "k", "value": "v"}],
            "volumes": [{"volume_type": "empty_dir", "name": "v", "mount_path": "/m", "spec": {}}],
            "resources": {"cpu": {"requests": "100m", "limits": 1}, "mem": "1Gi"},
            "affinity": {},
            "tolerations": [{}],
            "env": [{"name": "A", "value": "b"}],
            "secrets": ["s"],
            "backoff_limit": 0,
            "schedule": "* * * * *",
            "replicas": 1,
        }
    },
    "services": {
        "m": {
            "kind": "sklearnserve",
            "model": "runs.r.outputs.o",
            "model_name": "m",
            "image": "i",
            "replicas": 1,
            "service_type": "ClusterIP",
            "service_name": "m",
            "secrets": ["s"],
            "envs": [{"name": "A", "value": "b"}],
            "resources": {"cpu": "1"},
        },
        "p": {"kind": "python", "function": "f", "init_parameters": {"a": "dataitems.d"}},
    },
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-2, 2),
    st.just(1.0),
    st.sampled_from(
        [
            "",
            "a",
            "demo",
            "Bad Name",
            "table",
            "mlrun",
            "job",
            "100m",
            "x" * 40,
            "functions.f",
            "on_change",
            "empty_dir",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["name", "value", "key", "source", "code", "base64", "x", "kind"]),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def judges():
    """The compiled check, jsonschema over the registry-composed files, and over the bundle."""
    schemas = load_schemas()
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    composed = Draft202012Validator(schemas[ROOT_SCHEMA], registry=registry)
    strict = bundled_schema(for_editors=False)
    return compile_check(strict), composed, Draft202012Validator(strict)


def test_the_full_document_is_valid_for_all_judges(judges):
    fast, composed, bundled = judges
    assert fast(FULL) and composed.is_valid(FULL) and bundled.is_valid(FULL)


@settings(max_examples=examples(300), deadline=None)
@given(st.data())
def test_compiled_check_agrees_with_jsonschema(judges, data: st.DataObject) -> None:
    fast, composed, bundled = judges
    document = copy.deepcopy(FULL)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(document)[1:]))
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(values)
    expected = composed.is_valid(document)
    assert bundled.is_valid(document) == expected
    assert fast(document) == expected


def test_unknown_keywords_are_refused_not_ignored():
    with pytest.raises(Unsupported):
        compile_check({"type": "object", "patternProperties": {"^x": {}}})


def test_json_equality_distinguishes_booleans_from_numbers():
    assert not json_equal(True, 1) and json_equal(1, 1.0) and json_equal([1, {"a": False}], [1, {"a": False}])
