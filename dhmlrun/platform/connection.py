"""Which DigitalHub to talk to, resolved the way dhcli and the digitalhub SDK read their settings.

A pure function of the command-line options, the environment and the SDK's ini file, so it can be
tested without the SDK and called before the SDK is imported (the SDK reads its settings once,
when it builds its client).

The ini file is the SDK's: `$DH_CONFIG` if set, else `~/.dhcore.ini`, parsed with
`ConfigParser(interpolation=None)` (keys are case-insensitive; dhcli and the SDK write them in
lower case: `dhcore_endpoint`, `dhcore_access_token`, ...). A section is a *profile*.

Precedence of the endpoint (first that applies wins):

====  =====================================================  ===============================
 #    source                                                 credentials come from
====  =====================================================  ===============================
 1    `--endpoint URL`                                       the explicit profile if one is
                                                             named (2), else `DHCORE_*` env
 2    an explicit profile: `--profile NAME`, else the        that profile's section
      selected environment's `profile:` (`-e NAME`)
 3    `DHCORE_ENDPOINT` in the environment                   `DHCORE_*` env
 4    the SDK's current profile: `DH_NAME`, else             that profile's section
      `[DEFAULT] current_environment` in the ini
 5    none of the above: `None`, use the embedded core       -
====  =====================================================  ===============================

Why `DHCORE_ENDPOINT` sits between explicit and implicit profiles: a flag or a declaration naming
a profile is a deliberate choice for this command, whereas `current_environment` is whatever
`dhcli` last switched to; an endpoint exported in the shell (CI) is more specific than that. The
SDK itself prefers the env endpoint over the file too, but takes *credentials* from the file over
the env; we never mix them: credentials always come from the same source as the endpoint (or the
named profile), so a token of one profile is never sent to another endpoint.

A profile that is named (by `--profile`, an environment or `DH_NAME`) but missing from the ini is
an error listing the profiles that exist; so is a `current_environment` naming a missing section,
an ini that does not parse, and a chosen profile without `dhcore_endpoint`.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dhmlrun.errors import DhmlrunError, Location

ENDPOINT_VAR = "DHCORE_ENDPOINT"
CONFIG_VAR = "DH_CONFIG"
PROFILE_VAR = "DH_NAME"
CURRENT_KEY = "current_environment"
# The SDK's non-secret settings (ConfigurationVars plus the user name); every other value is masked.
PLAIN_KEYS = frozenset(
    {
        "DHCORE_ENDPOINT",
        "DHCORE_ISSUER",
        "DHCORE_WORKFLOW_IMAGE",
        "DHCORE_CLIENT_ID",
        "DHCORE_DEFAULT_FILES_STORE",
        "DH_PROJECTS",
        "DHCORE_NAME",
        "DHCORE_NAMESPACE",
        "DHCORE_PROXY",
        "DHCORE_VERSION",
        "OAUTH2_TOKEN_ENDPOINT",
        "DHCORE_USER",
        "DHCORE_EXPIRES_IN",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "S3_SIGNATURE_VERSION",
        "S3_PATH_STYLE",
        "S3_BUCKET",
        "DB_HOST",
        "DB_PORT",
        "DB_DATABASE",
        "DB_PLATFORM",
        "DB_SCHEMA",
        "DB_USERNAME",
    }
)
# Settings besides the endpoint taken from the environment when the endpoint does not come from a
# profile: the SDK's DHCORE_* credentials and client settings.
ENV_PREFIXES = ("DHCORE_",)
ENV_EXTRA = ("OAUTH2_TOKEN_ENDPOINT",)
MASK = "****"
# The precedence of the module docstring as data, for the generated reference (docs/reference.md).
PRECEDENCE: tuple[tuple[str, str], ...] = (
    ("`--endpoint URL`", "the explicitly named profile if any (row 2), else the `DHCORE_*` environment"),
    (
        "an explicit profile: `--profile NAME`, else the `profile:` of the environment chosen with `-e`",
        "that profile's section",
    ),
    ("`DHCORE_ENDPOINT` in the environment", "the `DHCORE_*` environment"),
    (
        "the SDK's current profile: `DH_NAME`, else `[DEFAULT] current_environment` of the ini",
        "that profile's section",
    ),
    ("none of the above: the embedded core (`PATH/.dhmlrun/core.db`)", "-"),
)


@dataclass(frozen=True)
class Connection:
    """How to reach DigitalHub: the endpoint, where it came from, and the SDK variables to set.

    `variables` holds every other SDK setting of the chosen source (tokens, user, client id, ...)
    under the SDK's upper-case names; it is excluded from `repr` because it holds secrets. Use
    `describe()` for anything a user sees.
    """

    endpoint: str
    source: str
    profile: str | None = None
    config_path: Path | None = None
    variables: Mapping[str, str] = field(default_factory=dict, repr=False)

    def masked_variables(self) -> dict[str, str]:
        """`variables` with every secret value (anything but known plain settings) masked."""
        return {key: value if key in PLAIN_KEYS else MASK for key, value in sorted(self.variables.items())}

    def describe(self) -> str:
        """One line for humans, e.g. `https://core.example (from ~/.dhcore.ini [prod]; token set)`."""
        secrets = sorted(key for key in self.variables if key not in PLAIN_KEYS)
        creds = ", ".join(f"{key.removeprefix('DHCORE_').lower()} set" for key in secrets)
        return f"{self.endpoint} (from {self.source}{'; ' + creds if creds else ''})"

    def sdk_environ(self, private_ini: Path | None = None) -> dict[str, str]:
        """The environment variables that make the SDK use exactly this connection.

        For a profile: `DH_CONFIG` and `DH_NAME` point the SDK at the same file and section, so
        a token it refreshes is written back where dhcli will find it. Otherwise the SDK must not
        read the user's profiles (it would prefer their credentials over the env): `DH_CONFIG` is
        set to `private_ini` (a file of dhmlrun's own, e.g. `.dhmlrun/sdk.ini`, where the SDK may
        persist refreshed tokens), or to the null device when none is given.
        """
        environ = {ENDPOINT_VAR: self.endpoint, **self.variables}
        if self.profile is not None and self.config_path is not None:
            environ[CONFIG_VAR] = str(self.config_path)
            environ[PROFILE_VAR] = self.profile
        else:
            environ[CONFIG_VAR] = str(private_ini) if private_ini is not None else os.devnull
        return environ

    def __str__(self) -> str:
        return self.describe()


def ini_path(environ: Mapping[str, str]) -> Path:
    """The SDK's ini file: `DH_CONFIG` when set (and not empty), else `~/.dhcore.ini`."""
    moved = environ.get(CONFIG_VAR)
    if moved:
        return Path(moved).expanduser()
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".dhcore.ini"


def resolve_connection(
    *,
    endpoint: str | None,
    profile: str | None,
    environment_profile: str | None,
    environ: Mapping[str, str],
    config_path: Path | None = None,
) -> Connection | None:
    """The connection the options and environment select, or None for the embedded core.

    `profile` is `--profile`, `environment_profile` the selected declaration environment's
    `profile:`; `config_path` overrides the ini location (else `DH_CONFIG` / `~/.dhcore.ini`).
    See the module docstring for the precedence. Raises DhmlrunError for a missing profile, an
    unparseable ini or a chosen profile without an endpoint.
    """
    path = config_path if config_path is not None else ini_path(environ)
    explicit = _explicit_profile(profile, environment_profile)
    if endpoint:
        if explicit is not None:
            name, how = explicit
            variables = _profile_settings(path, name, how, environ)
            variables.pop(ENDPOINT_VAR, None)
            return Connection(_checked(endpoint, "--endpoint"), "--endpoint", name, path, variables)
        return Connection(_checked(endpoint, "--endpoint"), "--endpoint", None, None, _env_settings(environ))
    if explicit is not None:
        return _from_profile(path, *explicit, environ)
    if environ.get(ENDPOINT_VAR):
        return Connection(
            _checked(environ[ENDPOINT_VAR], ENDPOINT_VAR), ENDPOINT_VAR, None, None, _env_settings(environ)
        )
    implicit = _implicit_profile(path, environ)
    if implicit is None:
        return None
    return _from_profile(path, *implicit, environ)


def _explicit_profile(profile: str | None, environment_profile: str | None) -> tuple[str, str] | None:
    if profile:
        return profile, "--profile"
    if environment_profile:
        return environment_profile, "the environment's profile"
    return None


def _implicit_profile(path: Path, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """`DH_NAME`, else the ini's `[DEFAULT] current_environment`, else None (as the SDK reads it)."""
    if environ.get(PROFILE_VAR):
        return environ[PROFILE_VAR], PROFILE_VAR
    if not path.is_file():
        return None
    current = _parse(path).defaults().get(CURRENT_KEY)
    return (current, f"{CURRENT_KEY} in {_shown(path, environ)}") if current else None


def _from_profile(path: Path, name: str, how: str, environ: Mapping[str, str]) -> Connection:
    variables = _profile_settings(path, name, how, environ)
    source = f"{_shown(path, environ)} [{name}]"
    endpoint = variables.pop(ENDPOINT_VAR, None)
    if not endpoint:
        raise DhmlrunError.single(
            f"profile {name!r} (chosen by {how}) has no dhcore_endpoint", Location(str(path))
        )
    return Connection(_checked(endpoint, source), source, name, path, variables)


def _profile_settings(path: Path, name: str, how: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Every key of the profile's section (DEFAULT keys included, as ConfigParser and the SDK
    inherit them), upper-cased to the SDK's variable names."""
    if not path.is_file():
        raise DhmlrunError.single(
            f"profile {name!r} (chosen by {how}) needs the DigitalHub config file, which does not exist "
            f"(set {CONFIG_VAR} to move it, or log in with dhcli)",
            Location(str(path)),
        )
    parser = _parse(path)
    if not parser.has_section(name):
        available = ", ".join(parser.sections()) or "none"
        raise DhmlrunError.single(
            f"profile {name!r} (chosen by {how}) does not exist in {_shown(path, environ)}",
            Location(str(path)),
            allowed=available,
        )
    return {key.upper(): value for key, value in parser.items(name) if key != CURRENT_KEY}


def _env_settings(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in environ.items()
        if value and key != ENDPOINT_VAR and (key.startswith(ENV_PREFIXES) or key in ENV_EXTRA)
    }


def _parse(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DhmlrunError.single(
            f"cannot parse the DigitalHub config file: {message}", Location(str(path), line)
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DhmlrunError.single(
            f"cannot read the DigitalHub config file: {exc}", Location(str(path))
        ) from None
    return parser


def _checked(endpoint: str, source: str) -> str:
    """The endpoint without surrounding blanks or a trailing '/', as the SDK sanitises it."""
    cleaned = endpoint.strip().removesuffix("/")
    if not cleaned.startswith(("http://", "https://")):
        raise DhmlrunError.single(
            f"the endpoint from {source} must start with http:// or https://",
            allowed="http://HOST[:PORT], https://HOST[:PORT]",
        )
    return cleaned


def _shown(path: Path, environ: Mapping[str, str]) -> str:
    """`~/.dhcore.ini` rather than the full home path, as users write it."""
    home = environ.get("HOME")
    if home:
        try:
            return "~/" + str(path.relative_to(home))
        except ValueError:
            pass
    return str(path)
