"""`/api/v1/-/{project}/runs/{id}/proxy`: a request to a serve run's service, through the core.

DHCore's ProxyController takes the target from `X-Proxy-URL` (`http://` added when it has no
scheme) and the method from `X-Proxy-Method` (default GET), and forwards only to the host of the
run's own service (`status.service.url`, set while it serves): `missing proxy url`, `invalid run
status`, `invalid run service`, `invalid run service url`, `invalid destination host` are 400s.
ProxyService forwards the body and every header but `X-Proxy-*` and `Authorization` (with
`X-Forwarded-For`, `Accept: application/json, text/plain`), takes text and JSON answers only
(`Unsupported Content-Type: …`, 400), and the controller answers 200 with the body, the content
type, each answer header as `X-Proxy-<name>` and the service's status as `X-Proxy-Status`.

One difference, on purpose: a service that cannot be reached is a 400 naming it, where DHCore's
RestTemplate error becomes a 500 (the core answers no input with a 5xx).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dhmlrun.core.errors import bad_request

if TYPE_CHECKING:
    from dhmlrun.core.api import ApiReply, ApiRequest, Route
    from dhmlrun.core.service import Core

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
TEXT_TYPES = ("text/", "application/json")
TIMEOUT_SECONDS = 60.0
MAX_ANSWER_BYTES = 16 * 1024 * 1024


def proxy_routes(core: Core) -> list[Route]:
    from dhmlrun.core.api import _route

    return [_route("/api/v1/-/{project}/runs/{entity_id}/proxy", METHODS, RunProxy(core).handle)]


def _status_line(status: int) -> str:
    """Spring's HttpStatusCode.toString(): `200 OK` (the bare number when it has no name)."""
    try:
        return f"{status} {HTTPStatus(status).name}"
    except ValueError:
        return str(status)


def _with_scheme(url: str) -> str:
    return url if url.startswith(("http://", "https://")) else "http://" + url


class RunProxy:
    """The endpoint (see the module docstring)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def handle(self, request: ApiRequest, args: dict[str, str]) -> ApiReply:
        run = self.core.get_entity(args["project"], "run", args["entity_id"])
        target = request.headers.get("x-proxy-url", "")
        if not target:
            raise bad_request("missing proxy url")
        target = _with_scheme(target)
        method = (request.headers.get("x-proxy-method") or "GET").upper()
        if method not in METHODS:
            raise bad_request(f"Unsupported HTTP method: {method}")
        status = run.get("status")
        if not isinstance(status, dict):
            raise bad_request("invalid run status")
        service = status.get("service")
        if not isinstance(service, dict) or not service.get("url"):
            raise bad_request("invalid run service")
        service_url = _with_scheme(str(service["url"]))
        requested_host = urlsplit(target).hostname or ""
        service_host = urlsplit(service_url).hostname or ""
        if not service_host or not requested_host.startswith(service_host):
            raise bad_request("invalid destination host")
        return self._forward(request, target, method)

    def _forward(self, request: ApiRequest, target: str, method: str) -> ApiReply:
        import urllib3

        from dhmlrun.core.api import HEADERS, ApiReply

        headers = {
            k: v
            for k, v in request.headers.items()
            if not k.startswith("x-proxy-") and k not in ("authorization", "host")
        }
        headers.pop("content-length", None)
        headers["x-forwarded-for"] = request.client
        headers["accept"] = "application/json, text/plain"
        try:
            answer = urllib3.PoolManager().request(
                method,
                target,
                body=request.body or None,
                headers=headers,
                timeout=urllib3.Timeout(connect=10, read=TIMEOUT_SECONDS),
                retries=False,
                redirect=False,
                preload_content=False,
            )
            body = answer.read(MAX_ANSWER_BYTES + 1, decode_content=True)
            answer.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise bad_request(f"cannot reach the run's service at {target}: {exc}") from exc
        content_type = answer.headers.get("content-type")
        if content_type is not None and not content_type.lower().startswith(TEXT_TYPES):
            raise bad_request(f"Unsupported Content-Type: {content_type}")
        if len(body) > MAX_ANSWER_BYTES:
            raise bad_request(f"the service's answer is larger than {MAX_ANSWER_BYTES} bytes")
        reply = dict(HEADERS)
        reply["content-type"] = content_type or "text/plain"
        exposed = []
        for name, value in answer.headers.items():
            if name.lower() in ("transfer-encoding", "connection", "content-length"):
                continue
            reply[f"x-proxy-{name.lower()}"] = value
            exposed.append(f"X-Proxy-{name}")
        reply["x-proxy-status"] = _status_line(answer.status)
        reply["access-control-expose-headers"] = ", ".join([*exposed, "X-Proxy-Status"])
        return ApiReply(200, body if content_type is not None else b"", reply)
