"""dhmlrun's REST client: typed errors from status and DHCore's error body (never from text of
an exception), pagination, lost creates recovered by id, credentials refreshed once on 401."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from dhmlrun.platform.auth import Credentials
from dhmlrun.platform.errors import Duplicate, NotAllowed, NotFound, PlatformError, Refused
from dhmlrun.platform.rest import RestClient, created_path
from dhmlrun.platform.transport import Reply


class Scripted:
    """A transport answering from a list of replies, recording every request."""

    endpoint = "http://core.test"

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.sent: list[tuple[str, str, dict[str, str], bytes | None]] = []

    def send(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None) -> Reply:
        self.sent.append((method, target, dict(headers), body))
        return self.replies.pop(0)


def reply(status: int, body: Any = None, retried: bool = False, **headers: str) -> Reply:
    data = b"" if body is None else json.dumps(body).encode()
    return Reply(status, data, headers, retried)


def error(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "message": message, "errorCode": None}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, error(404, "No such dataitem."), NotFound),
        (400, error(400, "Duplicated entity dataitem:abc."), Duplicate),
        (400, error(400, "invalid kind"), Refused),
        (403, error(403, "Access Denied"), NotAllowed),
        (500, {"timestamp": "t", "status": 500, "error": "Internal Server Error", "path": "/x"}, Refused),
    ],
)
def test_errors_are_typed_by_status_and_body(status: int, body: Any, kind: type) -> None:
    client = RestClient(Scripted(reply(status, body)))
    with pytest.raises(kind) as caught:
        client.get("/api/v1/-/p/dataitems/abc")
    assert type(caught.value) is kind
    assert caught.value.status == status
    assert isinstance(caught.value, PlatformError)


def test_lists_follow_every_page() -> None:
    pages = [
        reply(200, {"content": [{"id": "a"}, {"id": "b"}], "totalPages": 2}),
        reply(200, {"content": [{"id": "c"}], "totalPages": 2}),
    ]
    transport = Scripted(*pages)
    assert [d["id"] for d in RestClient(transport).list("/api/v1/-/p/runs", {"labels": "dhmlrun"})] == [
        "a",
        "b",
        "c",
    ]
    assert [t for _, t, _, _ in transport.sent] == [
        "/api/v1/-/p/runs?size=1000&labels=dhmlrun&page=0",
        "/api/v1/-/p/runs?size=1000&labels=dhmlrun&page=1",
    ]


def test_a_retried_create_refused_as_duplicate_answers_with_the_entity_it_made() -> None:
    made = {"id": "abc", "name": "d"}
    transport = Scripted(
        reply(400, error(400, "Duplicated entity dataitem:abc."), retried=True), reply(200, made)
    )
    assert RestClient(transport).post("/api/v1/-/p/dataitems", {"id": "abc", "name": "d"}) == made
    assert transport.sent[1][:2] == ("GET", "/api/v1/-/p/dataitems/abc")


def test_a_first_attempt_refused_as_duplicate_stays_refused() -> None:
    transport = Scripted(reply(400, error(400, "Duplicated entity dataitem:abc.")))
    with pytest.raises(Duplicate):
        RestClient(transport).post("/api/v1/-/p/dataitems", {"id": "abc"})
    assert len(transport.sent) == 1


def test_where_a_create_lands() -> None:
    assert created_path("/api/v1/-/p/logs", {"id": "x"}) == "/api/v1/-/p/logs/x"
    assert created_path("/api/v1/projects", {"name": "n"}) == "/api/v1/projects/n"
    assert created_path("/api/v1/-/p/runs/x", {"id": "y"}) is None
    assert created_path("/api/v1/-/p/runs", {}) is None


def test_an_api_level_the_sdk_does_not_speak_is_refused() -> None:
    client = RestClient(Scripted(reply(200, [], **{"X-Api-Level": "9"})))
    with pytest.raises(PlatformError, match="API level 9"):
        client.get("/api/v1/projects")


def test_a_401_refreshes_the_token_once_and_retries() -> None:
    posted: list[tuple[str, dict[str, str]]] = []

    def token_endpoint(url: str, form: dict[str, str]) -> dict[str, str]:
        posted.append((url, form))
        return {"access_token": "fresh", "refresh_token": "r2"}

    credentials = Credentials(
        {
            "DHCORE_ACCESS_TOKEN": "old",
            "DHCORE_REFRESH_TOKEN": "r1",
            "DHCORE_CLIENT_ID": "cli",
            "OAUTH2_TOKEN_ENDPOINT": "https://id/token",
        },
        post=token_endpoint,
    )
    transport = Scripted(reply(401, error(401, "expired")), reply(200, {"ok": True}))
    assert RestClient(transport, credentials).get("/api/v1/projects/p") == {"ok": True}
    assert [h["Authorization"] for _, _, h, _ in transport.sent] == ["Bearer old", "Bearer fresh"]
    assert posted == [
        (
            "https://id/token",
            {
                "client_id": "cli",
                "refresh_token": "r1",
                "grant_type": "refresh_token",
                "scope": "credentials",
            },
        )
    ]


def test_a_personal_access_token_is_exchanged_before_the_first_request() -> None:
    forms: list[dict[str, str]] = []
    credentials = Credentials(
        {"DHCORE_PERSONAL_ACCESS_TOKEN": "pat", "DHCORE_CLIENT_ID": "cli", "DHCORE_ISSUER": "https://id"},
        post=lambda url, form: forms.append(form) or {"access_token": "exchanged"},
        discover=lambda issuer: f"{issuer}/token",
    )
    assert credentials.headers() == {"Authorization": "Bearer exchanged"}
    assert forms[0]["subject_token"] == "pat"
    assert forms[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"


def test_basic_credentials_and_none() -> None:
    assert Credentials({"DHCORE_USER": "u", "DHCORE_PASSWORD": "p"}).headers() == {
        "Authorization": "Basic dTpw"
    }
    assert Credentials({}).headers() == {}


def test_a_401_without_refreshable_credentials_is_refused() -> None:
    transport = Scripted(reply(401, error(401, "no")))
    with pytest.raises(NotAllowed):
        RestClient(transport, Credentials({"DHCORE_ACCESS_TOKEN": "t"})).get("/api/v1/projects")
    assert len(transport.sent) == 1
