"""How dhmlrun finds DigitalHub: every source of the precedence, masking, and bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dhmlrun.errors import DhmlrunError
from dhmlrun.platform.connection import Connection, ini_path, resolve_connection

INI = """\
[DEFAULT]
current_environment = dev

[dev]
dhcore_endpoint = https://dev.example.org/
dhcore_access_token = dev-access-secret
dhcore_refresh_token = dev-refresh-secret
dhcore_client_id = dhcore-client

[prod]
DHCORE_ENDPOINT = https://prod.example.org
dhcore_personal_access_token = prod-pat-secret
dhcore_user = alice
dhcore_password = prod-password-secret
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A HOME holding the SDK's ini file as dhcli writes it."""
    (tmp_path / ".dhcore.ini").write_text(INI)
    return tmp_path


def resolve(
    environ: dict[str, str],
    *,
    endpoint: str | None = None,
    profile: str | None = None,
    environment_profile: str | None = None,
    config_path: Path | None = None,
) -> Connection | None:
    return resolve_connection(
        endpoint=endpoint,
        profile=profile,
        environment_profile=environment_profile,
        environ=environ,
        config_path=config_path,
    )


def test_endpoint_option_wins_over_everything(home: Path) -> None:
    conn = resolve(
        {"HOME": str(home), "DHCORE_ENDPOINT": "http://env:1", "DH_NAME": "prod"}, endpoint="http://flag:2/"
    )
    assert conn is not None
    assert (conn.endpoint, conn.source, conn.profile) == ("http://flag:2", "--endpoint", None)


def test_endpoint_option_takes_credentials_from_the_environment_not_the_current_profile(home: Path) -> None:
    conn = resolve({"HOME": str(home), "DHCORE_ACCESS_TOKEN": "env-token"}, endpoint="http://flag:2")
    assert conn is not None
    assert conn.variables == {"DHCORE_ACCESS_TOKEN": "env-token"}


def test_endpoint_option_with_a_named_profile_uses_that_profiles_credentials(home: Path) -> None:
    conn = resolve({"HOME": str(home)}, endpoint="http://tunnel:9", profile="prod")
    assert conn is not None
    assert conn.endpoint == "http://tunnel:9"
    assert conn.profile == "prod"
    assert conn.variables["DHCORE_PERSONAL_ACCESS_TOKEN"] == "prod-pat-secret"
    assert "DHCORE_ENDPOINT" not in conn.variables


def test_profile_option_wins_over_the_endpoint_variable(home: Path) -> None:
    conn = resolve({"HOME": str(home), "DHCORE_ENDPOINT": "http://env:1"}, profile="prod")
    assert conn is not None
    assert conn.endpoint == "https://prod.example.org"
    assert conn.source == "~/.dhcore.ini [prod]"
    assert conn.variables == {
        "DHCORE_PERSONAL_ACCESS_TOKEN": "prod-pat-secret",
        "DHCORE_USER": "alice",
        "DHCORE_PASSWORD": "prod-password-secret",
    }


def test_profile_option_wins_over_the_environments_profile(home: Path) -> None:
    conn = resolve({"HOME": str(home)}, profile="dev", environment_profile="prod")
    assert conn is not None and conn.profile == "dev"


def test_environments_profile_is_used_when_no_profile_option(home: Path) -> None:
    conn = resolve(
        {"HOME": str(home), "DHCORE_ENDPOINT": "http://env:1", "DH_NAME": "dev"}, environment_profile="prod"
    )
    assert conn is not None
    assert (conn.endpoint, conn.profile) == ("https://prod.example.org", "prod")


def test_endpoint_variable_wins_over_the_current_profile(home: Path) -> None:
    conn = resolve(
        {
            "HOME": str(home),
            "DHCORE_ENDPOINT": "http://env:1",
            "DHCORE_ACCESS_TOKEN": "t",
            "DH_NAME": "prod",
            "PATH": "/bin",
        }
    )
    assert conn is not None
    assert (conn.endpoint, conn.source, conn.profile) == ("http://env:1", "DHCORE_ENDPOINT", None)
    assert conn.variables == {"DHCORE_ACCESS_TOKEN": "t"}


def test_dh_name_selects_the_profile(home: Path) -> None:
    conn = resolve({"HOME": str(home), "DH_NAME": "prod"})
    assert conn is not None and conn.profile == "prod"


def test_current_environment_selects_the_profile_with_default_keys_excluded(home: Path) -> None:
    conn = resolve({"HOME": str(home)})
    assert conn is not None
    assert (conn.endpoint, conn.profile) == ("https://dev.example.org", "dev")
    assert conn.variables == {
        "DHCORE_ACCESS_TOKEN": "dev-access-secret",
        "DHCORE_REFRESH_TOKEN": "dev-refresh-secret",
        "DHCORE_CLIENT_ID": "dhcore-client",
    }


def test_nothing_configured_means_the_embedded_core(tmp_path: Path) -> None:
    assert resolve({"HOME": str(tmp_path)}) is None


def test_ini_without_current_environment_means_the_embedded_core(tmp_path: Path) -> None:
    (tmp_path / ".dhcore.ini").write_text("[prod]\ndhcore_endpoint = https://p\n")
    assert resolve({"HOME": str(tmp_path)}) is None


def test_dh_config_moves_the_file(tmp_path: Path, home: Path) -> None:
    moved = tmp_path / "etc" / "elsewhere.ini"
    moved.parent.mkdir()
    moved.write_text("[DEFAULT]\ncurrent_environment = lab\n[lab]\ndhcore_endpoint = http://lab:8080\n")
    environ = {"HOME": str(home / "user"), "DH_CONFIG": str(moved)}
    assert ini_path(environ) == moved
    conn = resolve(environ)
    assert conn is not None
    assert (conn.endpoint, conn.source, conn.config_path) == ("http://lab:8080", f"{moved} [lab]", moved)


def test_config_path_argument_overrides_dh_config(tmp_path: Path, home: Path) -> None:
    conn = resolve(
        {"HOME": str(tmp_path), "DH_CONFIG": str(tmp_path / "missing.ini")},
        config_path=home / ".dhcore.ini",
        profile="prod",
    )
    assert conn is not None and conn.endpoint == "https://prod.example.org"


def test_missing_profile_lists_the_available_ones(home: Path) -> None:
    with pytest.raises(DhmlrunError) as error:
        resolve({"HOME": str(home)}, profile="staging")
    problem = error.value.problems[0]
    assert "'staging'" in problem.message and "--profile" in problem.message
    assert problem.allowed == "dev, prod"
    assert problem.location is not None and problem.location.file == str(home / ".dhcore.ini")


def test_missing_profile_named_by_dh_name_is_an_error(home: Path) -> None:
    with pytest.raises(DhmlrunError, match=r"'qa'.*DH_NAME"):
        resolve({"HOME": str(home), "DH_NAME": "qa"})


def test_profile_without_an_ini_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DhmlrunError, match="does not exist"):
        resolve({"HOME": str(tmp_path)}, environment_profile="prod")


def test_profile_without_an_endpoint_is_an_error(tmp_path: Path) -> None:
    (tmp_path / ".dhcore.ini").write_text("[bare]\ndhcore_access_token = x\n")
    with pytest.raises(DhmlrunError, match=r"'bare'.*no dhcore_endpoint"):
        resolve({"HOME": str(tmp_path)}, profile="bare")


def test_unparseable_ini_is_a_clean_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".dhcore.ini"
    path.write_text("[dev]\ndhcore_endpoint = http://a\n[dev]\n")
    with pytest.raises(DhmlrunError) as error:
        resolve({"HOME": str(tmp_path)}, profile="dev")
    problem = error.value.problems[0]
    assert problem.message.startswith("cannot parse the DigitalHub config file")
    assert problem.location is not None and problem.location.file == str(path)
    assert problem.location.line == 3


def test_endpoint_without_a_scheme_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DhmlrunError, match="http:// or https://"):
        resolve({"HOME": str(tmp_path), "DHCORE_ENDPOINT": "core.example.org"})


def test_describe_and_repr_never_show_secrets(home: Path) -> None:
    for profile in ("dev", "prod"):
        conn = resolve({"HOME": str(home)}, profile=profile)
        assert conn is not None
        shown = " ".join([conn.describe(), repr(conn), str(conn), repr(conn.masked_variables())])
        assert "secret" not in shown
        assert conn.endpoint in conn.describe()
    assert "alice" in repr(conn.masked_variables())
    assert "password set" in conn.describe()


def test_sdk_environ_for_a_profile_points_the_sdk_at_the_same_file_and_section(home: Path) -> None:
    conn = resolve({"HOME": str(home)}, profile="prod")
    assert conn is not None
    environ = conn.sdk_environ()
    assert environ["DH_CONFIG"] == str(home / ".dhcore.ini")
    assert environ["DH_NAME"] == "prod"
    assert environ["DHCORE_ENDPOINT"] == "https://prod.example.org"
    assert environ["DHCORE_PERSONAL_ACCESS_TOKEN"] == "prod-pat-secret"


def test_sdk_environ_without_a_profile_hides_the_users_profiles(home: Path, tmp_path: Path) -> None:
    conn = resolve({"HOME": str(home), "DHCORE_ENDPOINT": "http://env:1"})
    assert conn is not None
    assert conn.sdk_environ()["DH_CONFIG"] == os.devnull
    private = tmp_path / "sdk.ini"
    environ = conn.sdk_environ(private)
    assert environ["DH_CONFIG"] == str(private)
    assert "DH_NAME" not in environ


SDK_PROBE = """
import json
from digitalhub.stores.client.auth.config_manager import ConfigManager
manager = ConfigManager()
settings = manager.get_credentials_and_config()
print(json.dumps({"endpoint": manager.get_endpoint(), "profile": manager.current_profile,
                  "settings": {k: v for k, v in settings.items() if v is not None}}))
"""


def sdk_view(environ: dict[str, str]) -> dict:
    """What the digitalhub SDK itself reads, given exactly `environ` (a fresh process)."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", SDK_PROBE], env=environ, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_sdk_reads_the_same_profile_from_sdk_environ(home: Path) -> None:
    conn = resolve({"HOME": str(home)}, profile="prod")
    assert conn is not None
    seen = sdk_view({"HOME": str(home), **conn.sdk_environ()})
    assert seen["endpoint"] == conn.endpoint
    assert seen["profile"] == "prod"
    assert seen["settings"]["DHCORE_PERSONAL_ACCESS_TOKEN"] == "prod-pat-secret"


@pytest.mark.slow
def test_the_sdk_does_not_mix_in_the_current_profiles_tokens_for_an_env_endpoint(
    home: Path, tmp_path: Path
) -> None:
    conn = resolve({"HOME": str(home), "DHCORE_ENDPOINT": "http://env:1", "DHCORE_ACCESS_TOKEN": "env-t"})
    assert conn is not None
    seen = sdk_view({"HOME": str(home), **conn.sdk_environ(tmp_path / "private" / "sdk.ini")})
    assert seen["endpoint"] == "http://env:1"
    assert seen["settings"]["DHCORE_ACCESS_TOKEN"] == "env-t"
    assert "DHCORE_REFRESH_TOKEN" not in seen["settings"]
