"""Schemathesis hooks for tlink's contract run: every request carries the credentials its route takes.

`/api` routes get the API key (`X-API-Key`); the Threat Stack routes (`/v2`, `/help`) get a Hawk header
signed over the request as it will be sent (method, path with its query, host, port; ext = the
organization id), with mohawk, an independent implementation of the scheme. Credentials come from the
environment the runner (tests/contract/run.sh) sets: CONTRACT_KEY (and its id, CONTRACT_KEY_ID),
CONTRACT_USER, CONTRACT_ORG, and an agent enrollment token, CONTRACT_AGENT_TOKEN, for the one route agents
call.
"""

import os

import mohawk
import requests
import schemathesis

KEY = os.environ["CONTRACT_KEY"]
KEY_ID = os.environ["CONTRACT_KEY_ID"]
USER = os.environ["CONTRACT_USER"]
ORG = os.environ["CONTRACT_ORG"]
BASE = os.environ["CONTRACT_BASE"]
AGENT_TOKEN = os.environ["CONTRACT_AGENT_TOKEN"]


def _threat_stack(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/") or path.startswith("/help/")


def _hawk_header(case) -> str:
    # The request exactly as the transport will build it, so the signed path and query are the sent ones.
    kwargs = case.as_transport_kwargs(base_url=BASE)
    prepared = requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        params=kwargs.get("params"),
        headers=kwargs.get("headers"),
        json=kwargs.get("json"),
        data=kwargs.get("data"),
    ).prepare()
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    # A body is signed with its payload hash (tlink requires one); a bodiless request is not.
    sender = mohawk.Sender(
        {"id": USER, "key": KEY, "algorithm": "sha256"},
        prepared.url,
        prepared.method,
        content=body if body else None,
        content_type=prepared.headers.get("Content-Type", "") if body else None,
        always_hash_content=False,
        ext=ORG,
    )
    return sender.request_header


@schemathesis.auth()
class TlinkCredentials:
    """API key on `/api`, Hawk on the Threat Stack routes."""

    def get(self, case, context):
        return True

    def set(self, case, data, context):
        if case.headers is None:
            case.headers = {}
        if case.path == "/api/agent/report":
            case.headers["X-Agent-Token"] = AGENT_TOKEN
        elif _threat_stack(case.path):
            case.headers["Authorization"] = _hawk_header(case)
        else:
            case.headers["X-API-Key"] = KEY


@schemathesis.hook
def before_call(context, case, kwargs):
    """Keeps the run's time for testing and its key usable, and never invents a pagination token: a token
    is opaque and signed, a client only sends one the server gave it (the suite tests that a forged one is
    refused)."""
    if case.query:
        case.query.pop("token", None)
        # `wait` holds a report's answer up to 30 s while it runs; no worker runs here, so each would wait
        # it out. One second keeps the parameter exercised without spending the run on waiting.
        wait = case.query.get("wait")
        if isinstance(wait, (int, str)) and str(wait).isdigit() and int(wait) > 1:
            case.query["wait"] = 1
    # The run's own key stays usable: revoking or rotating it would leave every later request a 401.
    if "/api-keys/" in case.formatted_path and KEY_ID in case.formatted_path:
        case.path_parameters["keyId"] = "00000000-0000-7000-8000-000000000000"
    # A Hawk header covers the query: sign again what is now sent.
    if _threat_stack(case.path) and case.headers and "Authorization" in case.headers:
        case.headers["Authorization"] = _hawk_header(case)
