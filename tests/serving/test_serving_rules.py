"""The rules behind serve runs, without serving anything: which SDK plugin holds a kind, which runs
are services, what `status.service` says, what this core refuses to serve, how a request becomes a
nuclio `Event`, and how a recorded process is told from a reused pid."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dhmlrun.core.kinds import RUNTIMES, is_service, sdk_module
from dhmlrun.serving import endpoints
from dhmlrun.vocabulary.processes import process_start, same_process


@pytest.mark.parametrize(
    ("kind", "module"),
    [
        ("sklearnserve+serve:run", "digitalhub_runtime_modelserve"),
        ("mlflowserve+build:run", "digitalhub_runtime_modelserve"),
        ("huggingfaceserve", "digitalhub_runtime_modelserve"),
        ("kubeai-text+serve", "digitalhub_runtime_modelserve"),
        ("vllmserve-text+serve:run", "digitalhub_runtime_modelserve"),
        ("python+serve:run", "digitalhub_runtime_python"),
        ("guardrail+serve:run", "digitalhub_runtime_python"),
        ("mlrun+job:run", "digitalhub_runtime_mlrun"),
        ("hera+pipeline:run", "digitalhub_runtime_hera"),
        ("unknown-kind+job:run", "digitalhub_runtime_unknown_kind"),
    ],
)
def test_the_sdk_plugin_of_a_kind_comes_from_the_kinds_table(kind: str, module: str) -> None:
    assert sdk_module(kind) == module


def test_every_installed_plugin_lists_the_kinds_the_table_gives_it() -> None:
    """The table and the SDK plugins agree: each kind the table maps to an installed plugin is
    one of that plugin's `entity_builders` (how the SDK itself finds a kind's classes)."""
    checked = 0
    for runtime in RUNTIMES:
        if importlib.util.find_spec(runtime.sdk_module) is None:
            continue
        plugin = importlib.import_module(runtime.sdk_module)
        listed = {kind for kind, _ in plugin.entity_builders}
        for kind in runtime.kinds():
            if kind.entity in ("function", "run") and kind.kind.split("+")[0] in {
                k.split("+")[0] for k in listed
            }:
                assert kind.kind in listed, f"{kind.kind} is not in {runtime.sdk_module}"
                checked += 1
        assert runtime.name in {k.split("+")[0].split(":")[0] for k in listed}, runtime.name
    assert checked >= 10  # python, modelserve and mlrun are installed with dhmlrun


@pytest.mark.parametrize(
    ("kind", "served"),
    [
        ("python+serve:run", True),
        ("sklearnserve+serve:run", True),
        ("python+job:run", False),
        ("python+serve", False),  # a task, not a run
        ("mlflowserve+build:run", False),
    ],
)
def test_runs_of_a_serve_task_are_services(kind: str, served: bool) -> None:
    assert is_service(kind) is served


def test_a_model_servers_status_is_dhcores_service_and_inference_v2() -> None:
    status = endpoints.service_status(
        "sklearnserve+serve:run", "abc", {"model_name": "iris"}, "127.0.0.1", 8080, 8081
    )
    assert status["service"]["url"] == "127.0.0.1:8080"  # host:port, no scheme (K8sServiceProcessor)
    assert status["service"]["type"] == "ClusterIP"
    assert "127.0.0.1:8081" in status["service"]["urls"]
    assert "127.0.0.1:8080/v2/models/iris/infer" in status["service"]["urls"]
    assert status["inference_v2"]["inferenceUrl"] == "127.0.0.1:8080/v2/models/iris/infer"
    assert status["inference_v2"]["readinessUrl"] == "127.0.0.1:8080/v2/health/ready"


def test_a_python_services_status_has_no_inference_v2_and_the_model_defaults_to_model() -> None:
    assert endpoints.service_status("python+serve:run", "r", {}, "127.0.0.1", 9000, None) == {
        "service": {
            "name": "python-serve-r",
            "type": "ClusterIP",
            "url": "127.0.0.1:9000",
            "urls": ["127.0.0.1:9000"],
        }
    }
    assert endpoints.model_name({}) == "model"


def test_what_the_embedded_core_cannot_serve_is_refused_with_the_reason() -> None:
    assert "not published on PyPI" in str(endpoints.refusal("huggingfaceserve+serve:run"))
    assert "python, sklearnserve and mlflowserve functions only" in str(
        endpoints.refusal("container+serve:run")
    )
    assert endpoints.refusal("python+serve:run") is None


def test_the_embedded_core_tells_the_plan_what_it_cannot_serve(tmp_path: Path) -> None:
    from dhmlrun.api import open_platform

    with open_platform(tmp_path, embedded_only=True) as platform:
        refused = platform.read_state("p").service_refusals
    assert refused == endpoints.refusals()
    assert "not published on PyPI" in refused["huggingfaceserve"]


def test_a_missing_model_server_is_named_with_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoints, "_installed", lambda module: module != "mlserver_sklearn")
    assert endpoints.refusal("sklearnserve+serve:run") == (
        "the server for sklearnserve is not installed where this core runs (no Python module "
        "mlserver_sklearn): install the servers with: pip install 'dhmlrun[serve]'"
    )


def test_a_request_is_the_nuclio_event_dhcores_processor_would_build() -> None:
    from dhmlrun.serving.python_host import event_of

    event = event_of(
        "POST", "/items/7?page=2&size=", {"Content-Type": "application/json"}, json.dumps({"a": 1}).encode()
    )
    assert event.body == {"a": 1}  # decoded, as nuclio does for application/json
    assert event.fields == {"page": "2", "size": ""}
    assert (event.method, event.path, event.trigger.kind) == ("POST", "/items/7", "http")
    raw = event_of("PUT", "/", {"content-type": "text/plain"}, b"hello")
    assert raw.body == b"hello" and raw.fields == {}


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ({"handler": "serve", "source": "src/api.py"}, "src/api.py"),
        ({"handler": "serve", "source": "api.py"}, "api.py"),
        ({"handler": "serve"}, "main.py"),
        ({"handler": "pkg.mod:serve", "source": "git+https://example.org/r.git"}, "pkg/mod.py"),
    ],
)
def test_embedded_code_goes_where_the_python_runtime_imports_it_from(source: dict, module: str) -> None:
    from dhmlrun.serving.python_host import module_file

    assert str(module_file(source)) == module


def test_a_recorded_process_is_told_from_a_reused_pid() -> None:
    me = os.getpid()
    assert same_process(me, process_start(me))
    assert not same_process(me, "0")  # same pid, another start: not the recorded process
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = process_start(child.pid)
    child.wait()
    assert not same_process(child.pid, started)
