"""Secret values at rest: sealed with AES-256-GCM under a key kept apart from the database.

Why: the embedded core's database lives in the config repository's `.dhmlrun/` (copied along
with a workspace, attached to bug reports, readable by backups); a project secret's value must not
be readable there. The key is a file of the user's own (`$XDG_CONFIG_HOME/dhmlrun/core.key`, i.e.
`~/.config/dhmlrun/core.key`, mode 0600 in a 0700 folder; `DHMLRUN_CORE_KEY_FILE` moves it),
created on first use. Each value is bound to its project and name (GCM's associated data), so a
sealed value copied to another secret does not open.

Not guaranteed: whoever can read both the database and the key file (the same user, root) reads
the secrets; losing the key file loses the stored values (set them again).
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

from dhmlrun.private import private_dir

KEY_ENV = "DHMLRUN_CORE_KEY_FILE"
PREFIX = "sealed:v1:"
NONCE_BYTES = 12


class SealingError(Exception):
    """A stored value that does not open with this key (another key, or damaged)."""


def default_key_file() -> Path:
    configured = os.environ.get(KEY_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dhmlrun" / "core.key"


class Sealer:
    """Seals and opens secret values with the user's key (loaded, or made, on first use)."""

    def __init__(self, key_file: Path | None = None) -> None:
        self.key_file = key_file or default_key_file()
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _aead(self) -> object:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        with self._lock:
            if self._key is None:
                self._key = _load_or_make(self.key_file)
        return AESGCM(self._key)

    def seal(self, project: str, name: str, value: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        aead = self._aead()
        sealed = aead.encrypt(nonce, value.encode("utf-8"), _bound(project, name))  # type: ignore[attr-defined]
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, project: str, name: str, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before values were sealed; sealed again by `reseal`
        from cryptography.exceptions import InvalidTag

        raw = base64.b64decode(stored[len(PREFIX) :])
        aead = self._aead()
        try:
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _bound(project, name))  # type: ignore[attr-defined]
        except InvalidTag as exc:
            raise SealingError(
                f"the value of secret {name} does not open with the key in {self.key_file}"
            ) from exc
        return plain.decode("utf-8")


def _bound(project: str, name: str) -> bytes:
    return f"{project}/{name}".encode()


def _load_or_make(path: Path) -> bytes:
    """The 32-byte key in `path`, created (0600, folder 0700) if missing. A new key is written
    whole to a temporary file and linked into place, so two processes starting at once agree on
    one key and never read a half-written one."""
    if not path.exists():
        private_dir(path.parent)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(32))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            temporary.unlink(missing_ok=True)
    key = path.read_bytes()
    if len(key) != 32:
        raise SealingError(f"{path} is not a dhmlrun key (32 bytes expected)")
    return key
