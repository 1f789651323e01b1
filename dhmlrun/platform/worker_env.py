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
from typing import Any

CONNECTION_PREFIXES = ("DHCORE_", "DH_")
CONNECTION_KEYS = frozenset({"OAUTH2_TOKEN_ENDPOINT"})
"""The SDK's connection settings (endpoint, credentials, profile, ini file): replaced whole."""

DHMLRUN_ONLY_PREFIXES = ("DHMLRUN_VAR_",)
DHMLRUN_ONLY_KEYS = frozenset({"DHMLRUN_CORE_TOKEN", "DHMLRUN_CORE_KEY_FILE"})
"""dhmlrun's own settings that are no run's business, kept from every run (local or the core's):
the declaration's variables (`DHMLRUN_VAR_NAME`, sensitive ones among them: a run gets what
the declaration passes it), the served core's token and where its sealing key is. A remote run
that named no secret printed both (issue 21)."""

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
PLATFORM_PREFIXES = ("LC_", "MLRUN_", "AWS_", "S3_", "DHMLRUN_", "PIP_")
"""What a run the platform executes inherits from the core's host: locale, paths, proxies and
certificates, and the settings of mlrun, S3, pip (where the core installs functions'
requirements from: `environments.py`) and dhmlrun itself. Nothing else (no tokens of other
services, no shell history variables)."""


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


def _is_dhmlrun_only(key: str) -> bool:
    return key.startswith(DHMLRUN_ONLY_PREFIXES) or key in DHMLRUN_ONLY_KEYS


def local_run_environment(environ: Mapping[str, str], connection: Mapping[str, str]) -> dict[str, str]:
    """A run apply executes for its user: the user's environment, with the connection's
    settings in place of any other platform's, less dhmlrun's own (`DHMLRUN_ONLY_KEYS`)."""
    kept = {k: v for k, v in environ.items() if not _replaced(k, connection) and not _is_dhmlrun_only(k)}
    return {**kept, **connection}


def platform_run_environment(environ: Mapping[str, str], connection: Mapping[str, str]) -> dict[str, str]:
    """A run the embedded core executes for a client: only `PLATFORM_KEYS`/`PLATFORM_PREFIXES`
    of the host's environment, plus the connection back to the core."""
    kept = {
        k: v
        for k, v in environ.items()
        if (k in PLATFORM_KEYS or k.startswith(PLATFORM_PREFIXES))
        and not _replaced(k, connection)
        and not _is_dhmlrun_only(k)
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


# ------------------------------------------------------------------ what DHCore gives a run's pod

PROJECT_NAME_ENV = "PROJECT_NAME"
RUN_ID_ENV = "RUN_ID"
"""The run's identity, set by every DHCore 0.15 runner (`new CoreEnv("PROJECT_NAME", ...)`,
`new CoreEnv("RUN_ID", ...)`); the SDK reads them as `RuntimeEnvVar.PROJECT` and `.RUN_ID` (its
context then knows the run it executes in) and so does the hera DSL (docs/dhcore-runs.md §1)."""
WORKFLOW_IMAGE_ENV = "DHCORE_WORKFLOW_IMAGE"
WORKFLOW_IMAGES: dict[str, str] = {
    "hera+build": "ghcr.io/scc-digitalhub/digitalhub-sdk-wrapper-hera/wrapper-hera:latest",
    "kfp+build": "ghcr.io/scc-digitalhub/digitalhub-sdk-wrapper-kfp/wrapper-kfp:latest",
}
"""The step image a workflow build is told (`HeraBuildRunner`, `KFPBuildRunner`: DHCore's
default `runtime.hera.image` / `runtime.kfp.image`). The hera DSL refuses to build without it
and writes it into each step's container; the embedded core recognises the step by its command,
not by the image."""


def run_identity(project: str, run_id: str, task_kind: str | None = None) -> dict[str, str]:
    """`PROJECT_NAME` and `RUN_ID`, plus `DHCORE_WORKFLOW_IMAGE` for a workflow build: the
    variables DHCore's runner for `task_kind` (`hera+build`, `python+job`, ...) sets."""
    identity = {PROJECT_NAME_ENV: project, RUN_ID_ENV: run_id}
    image = WORKFLOW_IMAGES.get(task_kind or "")
    if image is not None:
        identity[WORKFLOW_IMAGE_ENV] = image
    return identity


def task_kind_of(run_spec: Mapping[str, Any]) -> str | None:
    """The task kind a run's spec names (`hera+build://project/id` → `hera+build`)."""
    task = run_spec.get("task")
    return task.split("://", 1)[0] if isinstance(task, str) and "://" in task else None


def task_envs(run_spec: Mapping[str, Any]) -> dict[str, str]:
    """The run's `envs` (DHCore's `[{name, value}]`, merged into the run from its task)."""
    envs = run_spec.get("envs")
    pairs = envs if isinstance(envs, list) else []
    return {
        str(e["name"]): str(e.get("value") if e.get("value") is not None else "")
        for e in pairs
        if isinstance(e, Mapping) and e.get("name")
    }


def pod_environment(
    base: Mapping[str, str],
    configuration: Mapping[str, str],
    identity: Mapping[str, str],
    envs: Mapping[str, str],
) -> dict[str, str]:
    """A run's environment in DHCore's precedence (`K8sBaseFramework.buildEnv` and
    `buildRunSecret`): the core's configuration and credentials (`configuration`, the pod's
    `envFrom`) under the runner's variables, the task's `envs` under the run's `identity`,
    and the core's endpoint above all. `base` is what the process has besides (PATH, ...)."""
    shared = {k: v for k, v in configuration.items() if k == "DHCORE_ENDPOINT"}
    return {**base, **configuration, **envs, **identity, **shared}


def secret_variables(secrets: Mapping[str, str], run_spec: Mapping[str, Any]) -> dict[str, str]:
    """The run's secrets as environment variables, less those that would replace what the
    platform sets: DHCore puts user secrets in the run's secret, under its configuration and
    credentials, and every `env` entry of the pod (identity, the task's `envs`) above it."""
    given = {PROJECT_NAME_ENV, RUN_ID_ENV, WORKFLOW_IMAGE_ENV, *task_envs(run_spec)}
    return {k: v for k, v in secrets.items() if k not in given and not _is_connection_key(k)}
