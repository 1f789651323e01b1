"""The embedded core: a local, SQLite-backed server speaking DHCore's REST API (SDK 0.15).

Module map (one concern each):
    store.py      SQLite: one `entities` table (UNIQUE(type, id)), WAL, short IMMEDIATE transactions
    entities.py   DTO shaping: keys, audit metadata, version words, timestamps, nulls omitted
    lifecycle.py  run and material state machines
    specs.py      light validation of the kinds dhmlrun owns (mlrun, mlrun+job, mlrun+job:run)
    listing.py    list parameters → SQL, Spring page envelope
    service.py    the rules: references, update semantics, cascades, project embedding, secrets
    routes.py     URL → service; app.py: error bodies, API headers, bearer token
    executor.py   remote runs: `python -m dhmlrun.runtime.worker PROJECT RUN_ID`, bounded
    server.py     wiring + uvicorn; embedded.py: `embedded_core()` for in-process use

Beyond DHCore (which fills logs from Kubernetes), a run's logs are written with
`POST /api/v1/-/{project}/logs` and body `{"spec": {"run": RUN_ID, "timestamp": MS}, "content":
BASE64}`; `GET …/runs/{id}/logs` returns them oldest first, `PUT …/logs/{id}` replaces one.

Nothing here imports digitalhub or mlrun (`embedded` resets the SDK's client only when the SDK is
already loaded).
"""
