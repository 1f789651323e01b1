"""The environment of a process that executes a run: exactly one platform's settings, and for
runs the platform executes, only what a run needs.

Why explicit: a worker's digitalhub SDK reads its endpoint and credentials from the environment
(its public configuration), so the environment a worker starts with *is* its connection. It is
built here from the `Connection` apply or the core holds, never inherited by accident: another
profile's token must not leak into a run talking to the embedded core, and a run that the
embedded core executes for a client (`execution: remote`) gets a platform's environment (as a
Kubernetes pod would), not its host user's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

CONNECTION_PREFIXES = ("DHCORE_", "DH_")
CONNECTION_KEYS = frozenset({"OAUTH2_TOKEN_ENDPOINT"})
"""The SDK's connection settings (endpoint, credentials, profile, ini file): replaced whole."""

PLATFORM_KEYS = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    }
)
PLATFORM_PREFIXES = ("LC_", "MLRUN_", "AWS_", "S3_", "DHMLRUN_")
"""What a run the platform executes inherits from the core's host: locale, paths, proxies and
certificates, and the settings of mlrun, S3 and dhmlrun itself. Nothing else (no tokens of
other services, no shell history variables)."""


S3_KEYS = frozenset(
    {
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CREDENTIALS_EXPIRATION",
        "AWS_REGION",
        "S3_SIGNATURE_VERSION",
        "S3_PATH_STYLE",
        "S3_BUCKET",
    }
)
"""The SDK's S3 settings (ConfigurationVars and CredentialsVars): a connection that names its S3
(the embedded core's own files store) replaces all of them, so no key of another S3 is mixed in."""


def _is_connection_key(key: str) -> bool:
    return key.startswith(CONNECTION_PREFIXES) or key in CONNECTION_KEYS


def _replaced(key: str, connection: Mapping[str, str]) -> bool:
    """Whether the connection overrides the host's `key` (its own S3 settings replace all)."""
    return _is_connection_key(key) or (key in S3_KEYS and "AWS_ENDPOINT_URL" in connection)


def local_run_environment(environ: Mapping[str, str], connection: Mapping[str, str]) -> dict[str, str]:
    """A run apply executes for its user: the user's environment, with the connection's
    settings in place of any other platform's."""
    kept = {k: v for k, v in environ.items() if not _replaced(k, connection)}
    return {**kept, **connection}


def platform_run_environment(environ: Mapping[str, str], connection: Mapping[str, str]) -> dict[str, str]:
    """A run the embedded core executes for a client: only `PLATFORM_KEYS`/`PLATFORM_PREFIXES`
    of the host's environment, plus the connection back to the core."""
    kept = {
        k: v
        for k, v in environ.items()
        if (k in PLATFORM_KEYS or k.startswith(PLATFORM_PREFIXES)) and not _replaced(k, connection)
    }
    return {**kept, **connection}


def embedded_connection(
    endpoint: str, token: str, files_store: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The SDK settings that reach a served embedded core (and read no ini file), with the files
    store it hands its clients (`EmbeddedCore.files_environment`)."""
    return {
        "DHCORE_ENDPOINT": endpoint,
        "DHCORE_ACCESS_TOKEN": token,
        "DH_CONFIG": os.devnull,
        **(files_store or {}),
    }
