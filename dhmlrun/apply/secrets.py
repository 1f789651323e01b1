"""Applying a planned secret: the entity, then its value, then the digest that records it.

In this order, so that nothing claims more than is true: the entity is created (or adopted)
without a digest, the value is written through the secrets API, and only then is the secret
labelled with a digest of that value (`plan/secrets.py`). An apply that stops half-way leaves a
secret whose label does not match, which the next plan shows as changed and writes again.
"""

from __future__ import annotations

import copy
from typing import Any

from dhmlrun.plan.model import SecretWrite
from dhmlrun.plan.secrets import value_digest
from dhmlrun.platform import labels as L
from dhmlrun.platform.dhcore import Platform
from dhmlrun.platform.errors import NotFound, PlatformError
from dhmlrun.platform.secrets import TYPE, put_secret_value


def write_secret(platform: Platform, project: str, action: SecretWrite, value: str) -> str:
    """Make the secret of `action` hold `value`; its entity id."""
    body = copy.deepcopy(action.body)
    if action.create:
        created = _create(platform, body)
        entity_id = str(created.get("id") or body["id"])
    else:
        entity_id = str(body["id"])
    put_secret_value(platform.client, project, action.name, value)
    metadata: dict[str, Any] = body["metadata"]
    recorded = {L.VALUE_DIGEST: value_digest(project, action.name, value)}
    _, ours, user = L.decode(metadata.get("labels"))
    metadata["labels"] = L.encode({**ours, **recorded}, user)
    platform.adopt_in_place(TYPE, {"project": project, "id": entity_id, "metadata": metadata})
    return entity_id


def _create(platform: Platform, body: dict[str, Any]) -> dict[str, Any]:
    """POST the secret; a retried create finds its own. A secret of that name made by someone
    else in the meantime is refused by DHCore as a duplicate: then say so."""
    try:
        return platform.create_entity(TYPE, body)
    except NotFound:
        raise PlatformError(
            f"{TYPE}.{body['name']}: a secret of that name was created on the platform since the plan "
            "was made; run `dhmlrun plan` again (it will adopt it)"
        ) from None
