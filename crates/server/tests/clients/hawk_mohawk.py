#!/usr/bin/env python3
"""Independent Hawk client for tlink's integration tests, built on PyPI `mohawk` (1.1.0).

Threat Stack's Python examples sign with mohawk: Hawk id = user id, key = API key, sha256,
ext = organization id. This script drives one scenario against a running server and prints one
line per step, `ok <step>`, `skip <step>: reason` or `FAIL <step>: reason`; it exits 1 at the
first failure and 0 when every step behaved as expected.

Configuration, as in Threat Stack's examples (all but the last required):
  TS_USER_ID, TS_API_KEY, TS_ORGANIZATION_ID
  TS_HOST                   base URL, e.g. http://127.0.0.1:38211 (a bare host means https://host)
  TS_OTHER_ORGANIZATION_ID  a well-formed org id that is not the user's (step wrong-org; skipped if unset)

Only the standard library is used for HTTP.
"""

import http.client
import json
import logging
import os
import random
import string
import sys
import urllib.parse

from mohawk import Sender

# mohawk logs a warning on every accept_response() when no seen_nonce callback is given (a client
# has no use for one); keep that out of the output.
logging.getLogger("mohawk").addHandler(logging.NullHandler())

TIMEOUT_SECONDS = 30


class StepFailed(Exception):
    pass


def env(name, required=True):
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            print("FAIL config: environment variable '%s' is required" % name, flush=True)
            sys.exit(1)
        return None
    return value


USER_ID = env("TS_USER_ID")
API_KEY = env("TS_API_KEY")
ORG_ID = env("TS_ORGANIZATION_ID")
HOST = env("TS_HOST")
OTHER_ORG_ID = env("TS_OTHER_ORGANIZATION_ID", required=False)

if "://" not in HOST:
    HOST = "https://" + HOST
BASE = urllib.parse.urlsplit(HOST.rstrip("/"))
if BASE.scheme not in ("http", "https") or not BASE.hostname:
    print("FAIL config: TS_HOST must be a base URL such as http://127.0.0.1:8080, got %r" % HOST,
          flush=True)
    sys.exit(1)

CREDENTIALS = {"id": USER_ID, "key": API_KEY, "algorithm": "sha256"}


def url_for(path_and_query):
    """Absolute URL for a path (with query) below TS_HOST; it is what gets signed."""
    return "%s://%s%s%s" % (BASE.scheme, BASE.netloc, BASE.path, path_and_query)


def send(method, path_and_query, authorization, body=None, content_type=None):
    """Send one request with http.client; return (status, headers, body bytes)."""
    conn_cls = http.client.HTTPSConnection if BASE.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(BASE.hostname, BASE.port, timeout=TIMEOUT_SECONDS)
    headers = {"Authorization": authorization, "Accept": "application/json"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    try:
        conn.request(method, BASE.path + path_and_query, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, data
    except OSError as err:
        raise StepFailed("%s %s: %s" % (method, path_and_query, err))
    finally:
        conn.close()


def verify_response(sender, headers, body):
    """The response must carry Server-Authorization and mohawk must accept it (MAC and hash)."""
    server_auth = headers.get("Server-Authorization")
    if not server_auth:
        raise StepFailed("response has no Server-Authorization header")
    try:
        sender.accept_response(server_auth, content=body,
                               content_type=headers.get("Content-Type", ""))
    except Exception as err:  # mohawk.exc.HawkFail and subclasses, header parse errors
        raise StepFailed("mohawk rejected the response (%s: %s); Server-Authorization: %s"
                         % (type(err).__name__, err, server_auth))


def expect_status(status, expected, body):
    if status != expected:
        raise StepFailed("expected status %d, got %d: %s"
                         % (expected, status, body[:300].decode("utf-8", "replace")))


def parse_json(body):
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError as err:
        raise StepFailed("response body is not JSON (%s): %r" % (err, body[:300]))


def signed_get(path_and_query, ext=ORG_ID):
    # Threat Stack's GET examples: no body, so no payload hash.
    return Sender(CREDENTIALS, url_for(path_and_query), "GET", always_hash_content=False, ext=ext)


def step_self_test():
    path = "/help/hawk/self-test"
    sender = signed_get(path)
    status, headers, body = send("GET", path, sender.request_header)
    expect_status(status, 200, body)
    verify_response(sender, headers, body)


def step_list_assets():
    path = "/api/orgs/%s/assets?limit=2&type=DOMAIN" % urllib.parse.quote(ORG_ID, safe="")
    sender = signed_get(path)
    status, headers, body = send("GET", path, sender.request_header)
    expect_status(status, 200, body)
    verify_response(sender, headers, body)
    doc = parse_json(body)
    if not isinstance(doc, dict) or doc.get("success") is not True:
        raise StepFailed('expected "success": true, got %r' % (doc,))


def step_create_asset():
    path = "/api/orgs/%s/assets" % urllib.parse.quote(ORG_ID, safe="")
    label = "mohawk" + "".join(random.choice(string.ascii_lowercase) for _ in range(10))
    payload = json.dumps({"type": "DOMAIN", "value": label + ".example.com"}).encode("utf-8")
    content_type = "application/json"
    sender = Sender(CREDENTIALS, url_for(path), "POST", content=payload,
                    content_type=content_type, ext=ORG_ID)
    if 'hash="' not in sender.request_header:
        raise StepFailed("mohawk did not include a payload hash")
    status, headers, body = send("POST", path, sender.request_header, body=payload,
                                 content_type=content_type)
    expect_status(status, 201, body)
    verify_response(sender, headers, body)
    doc = parse_json(body)
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict) or data.get("id") in (None, ""):
        raise StepFailed("expected data.id in the response, got %r" % (doc,))


def step_tampered_query():
    org = urllib.parse.quote(ORG_ID, safe="")
    sender = signed_get("/api/orgs/%s/assets?limit=2" % org)
    status, headers, body = send("GET", "/api/orgs/%s/assets?limit=3" % org, sender.request_header)
    expect_status(status, 401, body)
    www = headers.get("WWW-Authenticate") or ""
    if not www.startswith("Hawk"):
        raise StepFailed("expected a WWW-Authenticate header starting with Hawk, got %r" % www)


def step_wrong_org():
    path = "/help/hawk/self-test"
    sender = signed_get(path, ext=OTHER_ORG_ID)
    status, _headers, body = send("GET", path, sender.request_header)
    expect_status(status, 401, body)


STEPS = [
    ("self-test", step_self_test),
    ("list-assets", step_list_assets),
    ("create-asset", step_create_asset),
    ("tampered-query", step_tampered_query),
    ("wrong-org", step_wrong_org),
]


def main():
    for name, step in STEPS:
        if name == "wrong-org" and OTHER_ORG_ID is None:
            print("skip %s: TS_OTHER_ORGANIZATION_ID not set" % name, flush=True)
            continue
        try:
            step()
        except StepFailed as err:
            print("FAIL %s: %s" % (name, err), flush=True)
            return 1
        except Exception as err:  # anything unexpected is a failure of that step too
            print("FAIL %s: %s: %s" % (name, type(err).__name__, err), flush=True)
            return 1
        print("ok %s" % name, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
