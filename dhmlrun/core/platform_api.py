"""The platform's own routes: configuration, templates, the user and their tokens.

- `/.well-known/configuration` (ConfigurationEndpoint): every configuration provider's keys,
  lower-cased (CoreConfig: `dhcore_endpoint`, `dhcore_name`, `dhcore_version`,
  `dhcore_api_level`, `dhcore_api_version`; FilesConfig: `dhcore_default_files_store`; S3Config:
  `aws_endpoint_url`, `aws_region`, `s3_bucket`), never a credential.
- `/.well-known/security.txt` (WellKnownEndpoint): `Policy`, `Preferred-Languages`, `Expires`
  lines, as text.
- `/api/v1/templates[/{entity}[/{id}]]` (TemplateController, TemplateServiceImpl): the
  templates a deployment ships in its templates folder; the embedded core ships none, so every
  list is an empty page and a template by id is an empty answer (`getTemplate` returns null).
- `/api/v1/users/me[/projects]` (UserController, MyUserManager): the caller's projects, listed
  or deleted with everything in them; deleting the user also revokes their tokens.
- `/api/v1/tokens/{personal,refresh}[/{id}]` (UserTokensController, TokenService): personal
  access tokens are created (the secret shown once, only a digest kept), listed, read and
  revoked; this core issues no refresh tokens, so that list is empty.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dhmlrun.core import entities as dto
from dhmlrun.core.errors import bad_request, not_found
from dhmlrun.core.listing import Page, page_envelope, spring_pageable

if TYPE_CHECKING:
    from dhmlrun.core.api import ApiReply, ApiRequest, Route
    from dhmlrun.core.service import Core

PAT_PREFIX = "dhat_"
PAT_SCOPES = ("openid", "profile", "credentials")
"""UserTokensController: the scopes of a personal access token created without any."""
PAT_DAYS = 365
POLICY = "https://github.com/scc-digitalhub/digitalhub-core"
"""`application.contacts-link`'s default (application.yml)."""
PERSONAL, REFRESH = "personal", "refresh"


def platform_routes(core: Core) -> list[Route]:
    from dhmlrun.core.api import _route

    handlers = PlatformHandlers(core)
    return [
        _route("/.well-known/configuration", ["GET"], handlers.configuration),
        _route("/.well-known/security.txt", ["GET"], handlers.security_txt),
        _route("/api/v1/templates", ["GET"], handlers.templates),
        _route("/api/v1/templates/{entity}", ["GET"], handlers.templates),
        _route("/api/v1/templates/{entity}/{template_id}", ["GET"], handlers.template),
        _route("/api/v1/users/me", ["DELETE"], handlers.delete_me),
        _route("/api/v1/users/me/projects", ["GET", "DELETE"], handlers.my_projects),
        _route("/api/v1/tokens/personal", ["GET", "POST"], handlers.personal_tokens),
        _route("/api/v1/tokens/personal/{token_id}", ["GET", "DELETE"], handlers.personal_token),
        _route("/api/v1/tokens/refresh", ["GET"], handlers.refresh_tokens),
        _route("/api/v1/tokens/refresh/{token_id}", ["GET", "DELETE"], handlers.refresh_token),
    ]


def _json(content: Any) -> ApiReply:
    from dhmlrun.core.api import json_reply

    return json_reply(content)


def _date(moment: datetime) -> str:
    """java.util.Date as Spring Boot's Jackson writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"


def _page(items: list[dict[str, Any]], request: ApiRequest, *, total: int | None = None) -> Page:
    """`new PageImpl<>(list, pageable, size)` for an unsorted Pageable."""
    page, size = spring_pageable(request.params)
    rendered = [json.dumps(item, sort_keys=True, separators=(",", ":")) for item in items]
    count = len(items) if total is None else total
    return Page(rendered, page_envelope(len(items), total=count, page=page, size=size, order=[]))


class PlatformHandlers:
    """Endpoint functions (see the module docstring)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    # well-known -------------------------------------------------------------------------------

    def configuration(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        endpoint = request.base_url.rstrip("/")
        settings = self.core.configuration(endpoint) if self.core.configuration is not None else {}
        return _json({key.lower(): value for key, value in sorted(settings.items())})

    def security_txt(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        from dhmlrun.core.api import HEADERS
        from dhmlrun.core.api import ApiReply as Reply

        expires = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        text = f"Policy: {POLICY}\nPreferred-Languages: en, it\nExpires: {expires}\n"
        headers = {**HEADERS, "content-type": "text/plain;charset=UTF-8"}
        return Reply(200, text.encode(), headers)

    # templates --------------------------------------------------------------------------------

    def templates(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        page, size = spring_pageable(request.params)
        envelope = page_envelope(0, total=0, page=page, size=size, order=[("id", True)])
        return _json(Page([], envelope))

    def template(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        return _json(None)

    # the user ---------------------------------------------------------------------------------

    def delete_me(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        """MyUserManager.deleteMyUser: the user's tokens revoked, their projects deleted."""
        with self.core.store.write() as tx:
            for kind in (PERSONAL, REFRESH):
                for body in tx.tokens(kind, self.core.user):
                    tx.delete_token(kind, self.core.user, json.loads(body)["id"])
        self._delete_my_projects()
        return _json(None)

    def my_projects(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        if request.method == "DELETE":
            self._delete_my_projects()
            return _json(None)
        return _json([p for p in self._my_projects()])

    def _my_projects(self) -> list[dict[str, Any]]:
        with self.core.store.read() as tx:
            rows = tx.find_projects_of(self.core.user)
        return [row.body for row in rows]

    def _delete_my_projects(self) -> None:
        for project in self._my_projects():
            self.core.delete_project(project["name"], cascade=True)

    # tokens -----------------------------------------------------------------------------------

    def personal_tokens(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        if request.method == "GET":
            with self.core.store.read() as tx:
                items = [json.loads(body) for body in tx.tokens(PERSONAL, self.core.user)]
            return _json(_page(items, request))
        body = request.json() if request.body.strip() else {}
        if not isinstance(body, dict):
            raise bad_request("JSON parse error: the request body must be an object")
        scopes = body.get("scopes")
        if scopes is not None and not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
            raise bad_request("scopes: must be a list of strings")
        name = body.get("name") if isinstance(body.get("name"), str) else ""
        secret = PAT_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        record = {
            "id": secrets.token_hex(16),
            "name": name,
            "user": self.core.user,
            "issuedAt": _date(now),
            "expiresAt": _date(now + timedelta(days=PAT_DAYS)),
            "scopes": sorted(set(scopes or PAT_SCOPES)),
        }
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self.core.store.write() as tx:
            tx.add_token(
                record["id"], PERSONAL, self.core.user, name, digest, json.dumps(record), dto.now_ms()
            )
        return _json(
            {
                "access_token": secret,
                "token_type": "Bearer",
                "issued_token_type": "urn:ietf:params:oauth:token-type:pat",
                "expires_in": PAT_DAYS * 24 * 3600,
                "issuer": request.base_url.rstrip("/"),
            }
        )

    def personal_token(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        token_id = args["token_id"]
        if request.method == "DELETE":
            with self.core.store.write() as tx:
                tx.delete_token(PERSONAL, self.core.user, token_id)
            return _json(None)
        with self.core.store.read() as tx:
            found = tx.token(PERSONAL, self.core.user, token_id)
        if found is None:
            raise not_found("PersonalAccess token not found")
        return _json(json.loads(found))

    def refresh_tokens(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        return _json(_page([], request))

    def refresh_token(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        if request.method == "DELETE":
            return _json(None)
        raise not_found("Refresh token not found")
