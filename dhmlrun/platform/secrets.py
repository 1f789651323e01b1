"""A project's secrets on DHCore: the entities (read into the state, one list request), their
values through the secrets API, and the environment a run gets from the secrets its task names.

DHCore 0.15 (docs/dhcore.md §11): a secret is an entity `{kind: secret, name, spec: {path: secret://NAME,
provider: kubernetes}}` (one per name, not versioned), its value set with `PUT
/-/{p}/secrets/data` and body `{NAME: value}` once the entity exists, read with `GET
/-/{p}/secrets/data?keys=NAME,...`, which answers `{KEY: value}` keyed by the `secret://KEY` of
each. A task's `secrets: [NAME, ...]` reaches its run as environment variables named by those
keys; dhmlrun does the same for the runs it executes itself (`secret_environment`).
"""

from __future__ import annotations

from collections.abc import Iterable

from dhmlrun.platform.rest import RestClient, context_path
from dhmlrun.platform.state import RemoteEntity

TYPE = "secrets"


def read_secrets(client: RestClient, project: str) -> dict[str, RemoteEntity]:
    """Every secret entity of the project, by address (`secrets.NAME`); values are not read."""
    entities = (RemoteEntity.from_dto(TYPE, dto) for dto in client.list(context_path(project, TYPE)))
    return {entity.address: entity for entity in entities}


def put_secret_value(client: RestClient, project: str, name: str, value: str) -> None:
    """Set the value of the existing secret `name` (DHCore's `PUT /secrets/data`)."""
    client.put(context_path(project, TYPE, "data"), {name: value})


def secret_environment(client: RestClient, project: str, names: Iterable[str]) -> dict[str, str]:
    """The environment variables a run naming `names` in its task gets, as DHCore gives them to
    its pods: one per secret that exists, named by its key (unknown names are skipped)."""
    wanted = sorted({str(name) for name in names if name})
    if not wanted:
        return {}
    answer = client.get(context_path(project, TYPE, "data"), {"keys": ",".join(wanted)})
    return {str(k): str(v) for k, v in (answer or {}).items() if v is not None}
