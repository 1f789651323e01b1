"""The embedded core: a local, SQLite-backed server speaking DHCore's REST API (SDK 0.15).

Module map (one concern each):
    store.py        SQLite: one `entities` table (UNIQUE(type, id)), WAL, short IMMEDIATE transactions
    entities.py     DTO shaping: keys, audit metadata, version words, timestamps, nulls omitted
    kinds.py        the kinds table: stock DHCore 0.15's kinds and dhmlrun's mlrun ones, their spec
                    fields and schemas (`GET /schemas/...`), what a stock core accepts and keeps
    specs.py        dhmlrun's own checks of the mlrun kinds (attached to them in the kinds table)
    lifecycle.py    run and material state machines
    listing.py      list parameters → SQL, Spring page envelope
    service.py      the rules: kinds and specs, references, a remote run built in its create,
                    update semantics, cascades, project embedding, secrets
    api.py          URL → service, core's error bodies and API headers (framework-free)
    asgi.py         the HTTP edge: bearer token, body limit; http_server.py: uvicorn on a socket
    inprocess.py    the same API without a socket, for this process
    jobs.py         remote runs, a bounded pool: one `python -m dhmlrun.worker.job PROJECT
                    RUN_ID` each, which executes the READY run through the SDK and its runtime
    server.py       `EmbeddedCore`: wiring, `serve()` on loopback, `core serve` (`--stock`)

Beyond DHCore (which fills logs from Kubernetes), a run's logs are written with
`POST /api/v1/-/{project}/logs` and body `{"spec": {"run": RUN_ID, "timestamp": MS}, "content":
BASE64}`; `GET …/runs/{id}/logs` returns them oldest first, `PUT …/logs/{id}` replaces one.

Nothing here imports digitalhub or mlrun (`embedded` resets the SDK's client only when the SDK is
already loaded).
"""
