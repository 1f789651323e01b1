"""Credentials for DHCore, as the digitalhub SDK and dhcli use them, chosen in the SDK's order:
a personal access token (exchanged for an access token), an access token (refreshed with its
refresh token when one is given), a user and password (Basic), or none.

Refreshed tokens are kept in memory for the command's duration; they are not written back to
`~/.dhcore.ini` (the SDK in run workers refreshes and persists on its own, as it always does).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from dhmlrun.platform.errors import NotAllowed, PlatformError

TokenPost = Callable[[str, dict[str, str]], dict[str, str]]
"""(token endpoint URL, form fields) -> the token endpoint's JSON answer."""
Discover = Callable[[str], str]
"""issuer URL -> its token endpoint (from /.well-known/openid-configuration)."""

REFRESH_GRANT = "refresh_token"
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
PAT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:pat"
SCOPE = "credentials"
WELL_KNOWN = "/.well-known/openid-configuration"


class Credentials:
    """Authorization headers for one connection, refreshable once per refused request."""

    def __init__(
        self, variables: Mapping[str, str], post: TokenPost | None = None, discover: Discover | None = None
    ) -> None:
        self._vars = {k: v for k, v in variables.items() if v}
        self._post = post or post_form
        self._discover = discover or discover_token_endpoint
        self._lock = threading.Lock()
        self._access = self._vars.get("DHCORE_ACCESS_TOKEN")
        self._refresh = self._vars.get("DHCORE_REFRESH_TOKEN")
        self._pat = self._vars.get("DHCORE_PERSONAL_ACCESS_TOKEN")

    @property
    def refreshable(self) -> bool:
        return bool(self._pat or (self._access and self._refresh))

    def headers(self) -> dict[str, str]:
        """The Authorization header to send now (exchanging a PAT first, once)."""
        with self._lock:
            if self._pat and not self._access:
                self._renew()
            if self._access:
                return {"Authorization": f"Bearer {self._access}"}
            user, password = self._vars.get("DHCORE_USER"), self._vars.get("DHCORE_PASSWORD")
            if user and password:
                pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
                return {"Authorization": f"Basic {pair}"}
            return {}

    def refresh(self, refused: NotAllowed) -> None:
        """Get a new access token after `refused` (a 401); raises `refused` when impossible."""
        if not self.refreshable:
            raise refused
        with self._lock:
            try:
                self._renew()
            except PlatformError as exc:
                raise NotAllowed(
                    refused.method,
                    refused.path,
                    refused.status,
                    f"{refused.message} (and the credentials could not be refreshed: {exc})",
                ) from exc

    def _renew(self) -> None:
        url = self._vars.get("OAUTH2_TOKEN_ENDPOINT")
        if not url:
            issuer = self._vars.get("DHCORE_ISSUER")
            if not issuer:
                raise PlatformError(
                    "cannot refresh the DHCore credentials: no OAUTH2_TOKEN_ENDPOINT or "
                    "DHCORE_ISSUER is configured"
                )
            url = self._discover(issuer)
        client_id = self._vars.get("DHCORE_CLIENT_ID")
        if not client_id:
            raise PlatformError("cannot refresh the DHCore credentials: DHCORE_CLIENT_ID is not configured")
        if self._pat:
            form = {
                "client_id": client_id,
                "subject_token": self._pat,
                "subject_token_type": PAT_TOKEN_TYPE,
                "grant_type": EXCHANGE_GRANT,
                "scope": SCOPE,
            }
        else:
            form = {
                "client_id": client_id,
                "refresh_token": str(self._refresh),
                "grant_type": REFRESH_GRANT,
                "scope": SCOPE,
            }
        answer = self._post(url, form)
        token = answer.get("access_token")
        if not token:
            raise PlatformError("the token endpoint answered without an access_token")
        self._access = token
        self._refresh = answer.get("refresh_token") or self._refresh


def _http_json(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> dict[str, str]:
    import urllib3

    try:
        response = urllib3.request(method, url, body=body, headers=headers, timeout=30.0, retries=2)
    except urllib3.exceptions.HTTPError as exc:
        raise PlatformError(f"cannot reach {url}: {exc}") from exc
    if response.status >= 400:
        raise PlatformError(f"{url} answered {response.status}")
    try:
        data = json.loads(response.data or b"{}")
    except ValueError as exc:
        raise PlatformError(f"{url} did not answer JSON") from exc
    return data if isinstance(data, dict) else {}


def post_form(url: str, form: dict[str, str]) -> dict[str, str]:
    return _http_json(
        "POST", url, urlencode(form).encode(), {"Content-Type": "application/x-www-form-urlencoded"}
    )


def discover_token_endpoint(issuer: str) -> str:
    found = _http_json("GET", issuer.rstrip("/") + WELL_KNOWN, None, {}).get("token_endpoint")
    if not found:
        raise PlatformError(f"the issuer {issuer} does not name a token_endpoint")
    return str(found)
