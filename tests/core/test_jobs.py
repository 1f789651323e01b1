"""Remote runs: built inside their create as DHCore builds them (READY), then executed by one worker
process per run, bounded, only for kinds whose runtime is installed, never left hanging."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dhmlrun.core.server import EmbeddedCore
from dhmlrun.core.service import Core
from dhmlrun.core.store import Store
from dhmlrun.worker.fork_server import RunServer, lending
from tests.conftest import auth_headers, served_core, unique_project_name
from tests.core.conftest import Api


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    """Start a core whose executor runs the given worker module; stopped after the test."""
    servers: list[EmbeddedCore] = []

    def start(worker_module: str, **kwargs) -> tuple[EmbeddedCore, Api, str]:
        server = EmbeddedCore(tmp_path / f"exec{len(servers)}.db", worker_module=worker_module, **kwargs)
        endpoint, _ = server.serve()
        servers.append(server)
        api = Api(endpoint, auth_headers(server))
        project = unique_project_name("exec")
        api.ok("POST", "/projects", json={"name": project})
        return server, api, project

    yield start
    for server in servers:
        server.close()


def _wait_final(api: Api, project: str, run_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.ok("GET", f"/-/{project}/runs/{run_id}")
        if run["status"]["state"] in ("COMPLETED", "ERROR"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish: {run['status']}")


def _remote_run(api: Api, project: str) -> dict:
    return api.run(project, api.task(project, api.function(project)), local=False)


def test_a_remote_run_is_built_in_its_create_and_answers_ready(serve):
    _, api, project = serve("tests.core.workers.completes")
    function = api.function(project)
    executable = f"mlrun://{project}/{function['name']}:{function['id']}"
    task_body = {"kind": "mlrun+job", "spec": {"function": executable, "timeout": 30, "profile": "small"}}
    task = api.ok("POST", f"/-/{project}/tasks", json=task_body)
    run_spec = {"task": f"mlrun+job://{project}/{task['id']}", "parameters": {"n": 1}, "timeout": 60}
    run = api.ok("POST", f"/-/{project}/runs", json={"kind": "mlrun+job:run", "spec": run_spec})
    assert run["status"]["state"] == "READY"
    assert run["spec"] == {**function["spec"], **task["spec"], **run_spec}  # the SDK's Runtime.build
    assert api.ok("GET", f"/-/{project}/runs/{run['id']}")["spec"] == run["spec"]
    assert _wait_final(api, project, run["id"])["status"]["state"] == "COMPLETED"


def test_a_run_created_in_another_state_is_neither_built_nor_executed(serve):
    _, api, project = serve("tests.core.workers.completes")
    task = api.task(project, api.function(project))
    run = api.run(project, task, local=False, state="ERROR")
    assert run["status"]["state"] == "ERROR"
    assert "source" not in run["spec"]
    assert api.ok("GET", f"/-/{project}/runs/{run['id']}")["status"]["state"] == "ERROR"


def test_the_sdks_save_right_after_a_remote_create_never_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run.save(update=True)` at once, even carrying the CREATED the client last saw: 200, the
    core's state is kept (DHCore swallows the impossible transition)."""
    monkeypatch.setenv("DHMLRUN_TEST_WORK_S", "0.5")
    with served_core(tmp_path / "sdk.db", worker_module="tests.core.workers.completes") as server:
        import digitalhub as dh

        project = dh.get_or_create_project(unique_project_name("save"))
        code = {"code": "def h():\n    pass\n"}
        function = project.new_function(name="f", kind="mlrun", source=code, handler="h")
        run = function.run("job")
        assert run.status.state == "READY"
        assert run.spec.handler == "h"  # built at create: the function's spec merged in
        run.save(update=True)
        run.status.state = "CREATED"
        run.save(update=True)
        assert run.status.state != "CREATED"
        api = Api(str(server.endpoint), auth_headers(server))
        assert _wait_final(api, project.name, run.id)["status"]["state"] == "COMPLETED"


def test_a_kind_without_an_installed_runtime_is_refused_by_name(serve):
    _, api, project = serve("tests.core.workers.completes")
    function = api.function(project, kind="dbt")  # a kind DHCore knows; its runtime is not installed
    run = api.run(project, api.task(project, function, kind="dbt+transform"), local=False)
    status = _wait_final(api, project, run["id"])["status"]
    assert status["state"] == "ERROR"
    assert "no runtime for kind dbt+transform:run is installed" in status["message"]
    assert "digitalhub_runtime_dbt" in status["message"]


def test_local_execution_runs_are_left_alone(serve):
    _, api, project = serve("tests.core.workers.crashes", max_workers=1)
    task = api.task(project, api.function(project))
    local = api.run(project, task, local=True)
    # one worker, FIFO queue: once a later remote run is done, the local one would have been taken
    assert _wait_final(api, project, api.run(project, task, local=False)["id"])["status"]["state"] == "ERROR"
    assert api.ok("GET", f"/-/{project}/runs/{local['id']}")["status"]["state"] == "CREATED"


def test_worker_completes_the_run(serve):
    _, api, project = serve("tests.core.workers.completes")
    run = _wait_final(api, project, _remote_run(api, project)["id"])
    assert run["status"]["state"] == "COMPLETED"
    assert run["status"]["results"] == {"answer": 42}
    (log,) = api.ok("GET", f"/-/{project}/runs/{run['id']}/logs")
    assert base64.b64decode(log["content"]) == b"worked\n"


def test_what_a_worker_prints_is_its_run_s_log_while_it_runs_and_after(
    serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    go = tmp_path / "go"
    monkeypatch.setenv("DHMLRUN_TEST_GO", str(go))
    server, api, project = serve("tests.core.workers.prints")
    run_id = _remote_run(api, project)["id"]

    def printed() -> str:
        logs = api.ok("GET", f"/-/{project}/runs/{run_id}/logs")
        return "".join(base64.b64decode(entry["content"]).decode() for entry in logs)

    deadline = time.monotonic() + 60
    while "first line" not in printed():
        assert time.monotonic() < deadline, "the worker's output was never served while it ran"
        time.sleep(0.05)
    assert "last line" not in printed()
    go.touch()
    assert _wait_final(api, project, run_id)["status"]["state"] == "COMPLETED"
    deadline = time.monotonic() + 30
    while run_id in server.jobs.running():  # its output is stored once the worker exits
        assert time.monotonic() < deadline, "the worker never exited"
        time.sleep(0.05)
    (log,) = api.ok("GET", f"/-/{project}/runs/{run_id}/logs")
    assert base64.b64decode(log["content"]).decode() == "first line\nlast line\n"
    assert log["metadata"]["labels"] == ["executor"]


def test_a_finished_workers_output_is_served_until_stored_then_only_stored(
    serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    go = tmp_path / "go"
    go.touch()  # the worker prints both lines at once
    monkeypatch.setenv("DHMLRUN_TEST_GO", str(go))
    server, api, project = serve("tests.core.workers.prints")
    seen: list[list[str]] = []
    store = server.jobs._store_output

    def printed(run_id: str) -> list[str]:
        logs = api.ok("GET", f"/-/{project}/runs/{run_id}/logs")
        return [base64.b64decode(entry["content"]).decode() for entry in logs]

    def storing(job, text: str) -> None:  # the worker has exited: what a reader sees meanwhile
        seen.append(printed(job.run_id))
        store(job, text)
        seen.append(printed(job.run_id))

    server.jobs._store_output = storing
    run_id = _remote_run(api, project)["id"]
    assert _wait_final(api, project, run_id)["status"]["state"] == "COMPLETED"
    deadline = time.monotonic() + 30
    while run_id in server.jobs.running():
        assert time.monotonic() < deadline, "the worker never exited"
        time.sleep(0.05)
    both = "first line\nlast line\n"
    assert seen == [[both], [both]]  # never none, never twice
    assert printed(run_id) == [both]


def test_crashed_worker_marks_run_error_with_exit_code_and_output(serve):
    _, api, project = serve("tests.core.workers.crashes")
    run = _wait_final(api, project, _remote_run(api, project)["id"])
    assert run["status"]["state"] == "ERROR"
    assert "worker exited with code 3" in run["status"]["message"]
    assert "boom: the handler exploded" in run["status"]["message"]
    logs = api.ok("GET", f"/-/{project}/runs/{run['id']}/logs")
    assert any(b"boom" in base64.b64decode(entry["content"]) for entry in logs)


def test_at_most_max_workers_run_at_once(serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    trace = tmp_path / "trace"
    trace.mkdir()
    monkeypatch.setenv("DHMLRUN_TEST_TRACE", str(trace))
    monkeypatch.setenv("DHMLRUN_TEST_WORK_S", "0.5")
    _, api, project = serve("tests.core.workers.completes", max_workers=2)
    task = api.task(project, api.function(project))
    runs = [api.run(project, task, local=False) for _ in range(4)]
    for run in runs:
        assert _wait_final(api, project, run["id"])["status"]["state"] == "COMPLETED"
    intervals = [tuple(map(float, f.read_text().split()[:2])) for f in trace.iterdir()]
    assert len(intervals) == 4
    most = max(sum(1 for s, e in intervals if s <= start < e) for start, _ in intervals)
    assert most <= 2


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "off"])
def test_workers_are_forks_of_one_warm_server_unless_it_is_turned_off(
    serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm: bool
):
    """Each run still has a process of its own; with the warm run server (the default) that
    process is a fork of one server that imported mlrun and digitalhub once, not a new
    interpreter paying those imports per run."""
    trace = tmp_path / "trace"
    trace.mkdir()
    monkeypatch.setenv("DHMLRUN_TEST_TRACE", str(trace))
    if not warm:
        monkeypatch.setenv("DHMLRUN_RUN_SERVER", "0")
    _, api, project = serve("tests.core.workers.completes", max_workers=1)
    task = api.task(project, api.function(project))
    for run in [api.run(project, task, local=False) for _ in range(2)]:
        assert _wait_final(api, project, run["id"])["status"]["state"] == "COMPLETED"
    parents = {int(f.read_text().split()[2]) for f in trace.iterdir()}
    assert len(list(trace.iterdir())) == 2
    if not warm:
        assert parents == {os.getpid()}
        return
    (parent,) = parents
    assert parent != os.getpid()
    assert b"dhmlrun.worker.fork_server" in Path(f"/proc/{parent}/cmdline").read_bytes()


def test_a_server_whose_imports_read_another_environment_is_replaced(
    serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """mlrun reads `MLRUN_*` when imported: once the core gives its runs other values, a new
    server (imported with them) forks the next runs."""
    trace = tmp_path / "trace"
    trace.mkdir()
    monkeypatch.setenv("DHMLRUN_TEST_TRACE", str(trace))
    _, api, project = serve("tests.core.workers.completes", max_workers=1)
    task = api.task(project, api.function(project))
    parents = []
    for value in ("one", "two"):
        monkeypatch.setenv("MLRUN_TEST_SETTING", value)
        run = api.run(project, task, local=False)
        assert _wait_final(api, project, run["id"])["status"]["state"] == "COMPLETED"
        parents.append(int((trace / run["id"]).read_text().split()[2]))
    assert len(set(parents)) == 2 and os.getpid() not in parents


def test_a_core_takes_the_warm_server_an_earlier_core_of_its_process_stopped_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Inside `keeping_idle_servers()` (this test session is: conftest), a core's server outlives
    the core, warm, and the next core of the process forks its runs from it."""
    trace = tmp_path / "trace"
    trace.mkdir()
    monkeypatch.setenv("DHMLRUN_TEST_TRACE", str(trace))
    # an import setting no server of this session was started with: the cores cannot borrow
    # the session's kept apply server (`keeping_run_server` lends it), so the first starts one
    monkeypatch.setenv("MLRUN_TEST_IDLE", unique_project_name("idle"))
    parents = []
    for index in range(2):
        core = EmbeddedCore(tmp_path / f"core{index}.db", worker_module="tests.core.workers.completes")
        try:
            endpoint, _ = core.serve()
            api = Api(endpoint, auth_headers(core))
            project = unique_project_name("idle")
            api.ok("POST", "/projects", json={"name": project})
            run = _remote_run(api, project)
            assert _wait_final(api, project, run["id"])["status"]["state"] == "COMPLETED"
            parents.append(int((trace / run["id"]).read_text().split()[2]))
        finally:
            core.close()
    assert parents[0] == parents[1] != os.getpid()


def test_a_core_forks_its_runs_from_the_server_apply_lends_it(
    serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """While apply applies, the embedded core it talks to forks its remote runs from apply's
    own warm server (`fork_server.lending`), and leaves it to apply afterwards."""
    trace = tmp_path / "trace"
    trace.mkdir()
    monkeypatch.setenv("DHMLRUN_TEST_TRACE", str(trace))
    server, api, project = serve("tests.core.workers.completes")
    with RunServer(preload=("json",)) as lent:
        with lending(lent):
            run = _remote_run(api, project)
            assert _wait_final(api, project, run["id"])["status"]["state"] == "COMPLETED"
            assert int((trace / run["id"]).read_text().split()[2]) == lent.pid
        server.jobs.shutdown()
        assert lent.alive  # the core never stops a server it borrowed


def test_stop_ends_the_worker_and_marks_the_run_stopped(serve, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DHMLRUN_TEST_WORK_S", "120")
    _, api, project = serve("tests.core.workers.completes")
    run = _remote_run(api, project)
    deadline = time.monotonic() + 60
    while api.ok("GET", f"/-/{project}/runs/{run['id']}")["status"]["state"] != "RUNNING":
        assert time.monotonic() < deadline, "the worker never reached RUNNING"
        time.sleep(0.05)
    stopped = api.ok("POST", f"/-/{project}/runs/{run['id']}/stop", json={})
    assert stopped["status"]["state"] == "STOPPED"


def test_deleting_a_running_run_ends_its_worker(serve, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DHMLRUN_TEST_WORK_S", "120")
    server, api, project = serve("tests.core.workers.completes")
    run = _remote_run(api, project)
    deadline = time.monotonic() + 60
    while api.ok("GET", f"/-/{project}/runs/{run['id']}")["status"]["state"] != "RUNNING":
        assert time.monotonic() < deadline, "the worker never reached RUNNING"
        time.sleep(0.05)
    api.ok("DELETE", "/projects/" + project)
    while server.jobs.running():
        assert time.monotonic() < deadline, "the worker of a deleted run is still alive"
        time.sleep(0.05)


def test_runs_of_a_killed_core_are_failed_by_the_next_one(tmp_path: Path):
    db_path = tmp_path / "orphans.db"
    core = Core(Store(db_path))
    core.create_project({"name": "orphans"})
    function = core.create_entity(
        "orphans", "function", {"name": "f", "kind": "mlrun", "spec": {"source": {"code": "x"}}}
    )
    executable = f"mlrun://orphans/f:{function['id']}"
    task = core.create_entity("orphans", "task", {"kind": "mlrun+job", "spec": {"function": executable}})
    spec = {"task": f"mlrun+job://orphans/{task['id']}"}
    orphan = core.create_entity("orphans", "run", {"kind": "mlrun+job:run", "spec": spec})
    finished = core.create_entity(
        "orphans", "run", {"kind": "mlrun+job:run", "spec": spec, "status": {"state": "ERROR"}}
    )
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    with core.store.write() as tx:
        for run in (orphan, finished):
            tx.claim(run["id"], "orphans", int(dead.stdout), 0)
    server = EmbeddedCore(db_path, worker_module="tests.core.workers.completes")
    server.serve()
    try:
        recovered = server.core.get_entity("orphans", "run", orphan["id"])["status"]
        assert recovered["state"] == "ERROR"
        assert f"the core process ({int(dead.stdout)}) executing this run ended" == recovered["message"]
        assert server.core.get_entity("orphans", "run", finished["id"])["status"] == {"state": "ERROR"}
        with server.store.read() as tx:
            assert tx.claims() == []
    finally:
        server.close()


def test_a_container_build_ends_in_error_the_embedded_core_having_no_image_builder(serve):
    """DHCore builds container images with Kaniko or BuildKit (ContainerBuildRunner); the
    embedded core has no image builder and says so, instead of pretending."""
    _, api, project = serve("tests.core.workers.completes")
    spec = {"image": "alpine:3.20", "base_image": "alpine:3.20"}
    function = api.ok(
        "POST", f"/-/{project}/functions", json={"name": "box", "kind": "container", "spec": spec}
    )
    task = api.task(project, function, kind="container+build")
    run = api.run(project, task, local=False)
    final = _wait_final(api, project, run["id"])
    assert final["status"]["state"] == "ERROR"
    assert "builds no container images" in final["status"]["message"]


def test_a_service_forks_only_from_a_server_already_there_never_one_started_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`Jobs.fork_service` asks with `start=False`: starting a server (mlrun's imports) would
    delay the service more than a process of its own; a run asks with `start=True`."""
    from dhmlrun.worker import fork_server

    started: list[object] = []
    monkeypatch.setattr(fork_server, "RunServer", lambda **kwargs: started.append(kwargs))
    warm = fork_server.WarmServers(3)  # holds no real server here: nothing to close
    env = {**os.environ, "MLRUN_TEST_NO_SERVER_HAS_THIS": "1"}  # no idle or lent server fits
    assert warm.for_runs(sys.executable, env, start=False) is None
    assert started == []
    warm.for_runs(sys.executable, env)
    assert started == [{"env": env, "python": sys.executable}]
