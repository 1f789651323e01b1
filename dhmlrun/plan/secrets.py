"""Planning a declared secret: is its value on the platform the declared one, without reading it back?

A secret's value is never read back from the platform and never shown. What the platform keeps
beside it is a digest, in a label of the secret entity (`dhmlrun/value=...`), written by apply
right after the value: scrypt over the secret's project, name and value, with a random salt drawn
anew at every write (`VALUE_DIGEST_FORMAT`). Why scrypt and a salt rather than a plain SHA-256:
labels are readable by anyone who can list the project, and secrets are often short (a PIN, a
word); an unsalted fast hash of those is reversed by a dictionary in moments, and the same value
would give the same label everywhere. A salted, memory-hard digest makes every guess cost about
50 ms and 16 MiB, per secret. Why not a key kept off the platform (an HMAC): then a plan made on
another machine (CI) could not compare, and the platform would no longer be the state.

Not guaranteed: someone who can read the labels can still test guesses, at that cost; a value
changed outside dhmlrun (another client writing the secret) is not seen, since the value is not
read back; the plan only knows what dhmlrun last wrote.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable

from dhmlrun.config.model import Resource
from dhmlrun.platform import labels as L
from dhmlrun.platform.state import PlatformState, RemoteEntity
from dhmlrun.vocabulary.mask import MASK

from .model import (
    ADOPT,
    CREATE,
    NOOP,
    PROJECT_ADDRESS,
    UPDATE,
    Action,
    AttributeChange,
    NoChange,
    SecretWrite,
)

SCHEME = "scrypt1"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16
DIGEST_BYTES = 32
VALUE_DIGEST_FORMAT = f"{SCHEME}.SALT.DIGEST (base64url, no padding)"
SECRET_PROVIDER = "kubernetes"
"""The provider DHCore 0.15 requires in a secret's spec (the only one it has)."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(project: str, name: str, value: str, salt: bytes) -> bytes:
    message = f"{project}\0{name}\0{value}".encode()
    return hashlib.scrypt(message, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=DIGEST_BYTES)


def value_digest(project: str, name: str, value: str, salt: bytes | None = None) -> str:
    """A new label value for the secret's value (a fresh random salt unless one is given)."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    return f"{SCHEME}.{_b64(salt)}.{_b64(_scrypt(project, name, value, salt))}"


def digest_matches(recorded: str | None, project: str, name: str, value: str) -> bool:
    """True when `recorded` (a label value) is a digest of this very value."""
    if not recorded:
        return False
    scheme, _, rest = recorded.partition(".")
    salt_text, _, digest_text = rest.partition(".")
    if scheme != SCHEME or not salt_text or not digest_text:
        return False
    try:
        salt, expected = _unb64(salt_text), _unb64(digest_text)
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(project, name, value, salt), expected)


def secret_body(project: str, resource: Resource, entity_id: str) -> dict[str, object]:
    """The secret entity a create POSTs (DHCore's shape: `spec.path` and `spec.provider`), its
    labels without a digest yet: apply adds one once the value is written."""
    recorded = {L.ADDRESS: resource.address}
    if resource.lifecycle.get("prevent_destroy"):
        recorded[L.PREVENT_DESTROY] = "true"
    return {
        "id": entity_id,
        "name": resource.name,
        "kind": "secret",
        "project": project,
        "metadata": {
            "project": project,
            "name": resource.name,
            "description": resource.spec.get("description"),
            "labels": L.encode(recorded, resource.spec.get("labels") or ()),
        },
        "spec": {"path": f"secret://{resource.name}", "provider": SECRET_PROVIDER},
    }


def plan_secret(
    resource: Resource,
    state: PlatformState,
    read_value: Callable[[str], str],
    id_factory: Callable[[], str],
) -> Action:
    """The action for one declared secret (module docstring). `read_value` reads the declared
    value (raising the declaration's error when it cannot)."""
    project = state.project
    remote = state.entities.get(resource.address)
    value_change = AttributeChange("value", None if remote is None else MASK, MASK)
    if remote is None:
        entity_id = id_factory()
        read_value(resource.address)  # a value that cannot be read fails the plan, not the apply
        return SecretWrite(
            resource.address,
            CREATE,
            "not on the platform",
            diff=[value_change],
            body=secret_body(project, resource, entity_id),
            create=True,
            depends_on=[PROJECT_ADDRESS],
        )
    body = secret_body(project, resource, remote.id)
    if not remote.managed:
        read_value(resource.address)
        return SecretWrite(
            resource.address,
            ADOPT,
            "made outside dhmlrun: adopted, its value set from the declaration",
            diff=[value_change],
            body=body,
            seen=remote.id,
            depends_on=[PROJECT_ADDRESS],
        )
    changed = _metadata_changes(resource, remote)
    recorded = remote.recorded.get(L.VALUE_DIGEST)
    others = "changed: " + ", ".join(c.path for c in changed) if changed else ""
    if not digest_matches(recorded, project, resource.name, read_value(resource.address)):
        reason = "value changed" if recorded else "value not recorded (an earlier apply did not finish)"
        reason = f"{reason}; {others}" if others else reason
        changed.insert(0, value_change)
    elif not changed:
        return NoChange(resource.address, NOOP, "up to date", seen=remote.id)
    else:
        reason = others
    return SecretWrite(
        resource.address,
        UPDATE,
        reason,
        diff=changed,
        body=body,
        seen=remote.id,
        depends_on=[PROJECT_ADDRESS],
    )


def _metadata_changes(resource: Resource, remote: RemoteEntity) -> list[AttributeChange]:
    declared = {
        "description": resource.spec.get("description"),
        "labels": sorted(str(x) for x in resource.spec.get("labels") or ()),
        "lifecycle.prevent_destroy": bool(resource.lifecycle.get("prevent_destroy", False)),
    }
    current = {
        "description": remote.description,
        "labels": sorted(remote.user_labels),
        "lifecycle.prevent_destroy": remote.recorded.get(L.PREVENT_DESTROY) == "true",
    }
    return [
        AttributeChange(k, current[k], v) for k, v in declared.items() if (current[k] or None) != (v or None)
    ]
