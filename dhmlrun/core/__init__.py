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
    api.py          URL → service, core's error bodies and API headers (framework-free); beside it
                    base_api.py (base entity APIs, relationships, labels), files_api.py (the files
                    API), platform_api.py (configuration, templates, users, tokens), proxy_api.py
                    (the run proxy): docs/dhcore-routes.md
    validation.py   DHCore's `@Valid` rules on entity bodies
    relationships.py, run_events.py   relationships between entities; run lifecycle events
    objects.py      the files store (blobs beside core.db); s3.py, sigv4.py, s3_edge.py its S3
                    protocol; files.py DHCore's files service over it (docs/files-store.md)
    asgi.py         the HTTP edge: bearer token, body limit; http_server.py: uvicorn on a socket
    inprocess.py    the same API without a socket, for this process
    jobs.py         remote runs, a bounded pool: one `python -m dhmlrun.worker.job PROJECT
                    RUN_ID` each, which executes the READY run through the SDK and its runtime
    server.py       `EmbeddedCore`: wiring, `serve()` on loopback, `core serve` (`--stock`)
    embedded.py     the core as the `Platform` of a command that has no endpoint (in process)

Beyond DHCore (which fills logs from Kubernetes), a run's logs are written with
`POST /api/v1/-/{project}/logs` and body `{"spec": {"run": RUN_ID, "timestamp": MS}, "content":
BASE64}`; `GET …/runs/{id}/logs` returns them oldest first, `PUT …/logs/{id}` replaces one.

Nothing here imports digitalhub or mlrun: the job and service workers it starts do, in their
own processes.
"""
