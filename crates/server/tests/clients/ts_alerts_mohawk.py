#!/usr/bin/env python3
"""A Threat Stack-style script on PyPI `mohawk`: list the organization's alerts in a time window, following
`token` until it is null, then dismiss the window's low-severity alerts by query.

Configuration as in Threat Stack's examples: TS_USER_ID, TS_API_KEY, TS_ORGANIZATION_ID, TS_HOST (base URL);
TS_FROM and TS_UNTIL (ISO-8601, partial precision allowed). Prints `pages N`, `alerts N`, `dismissed N`;
exits 1 with `FAIL …` when a response is not as Threat Stack documents it or its signature does not verify.
"""

import http.client
import json
import logging
import os
import sys
import urllib.parse

from mohawk import Sender

logging.getLogger("mohawk").addHandler(logging.NullHandler())

CREDENTIALS = {"id": os.environ["TS_USER_ID"], "key": os.environ["TS_API_KEY"], "algorithm": "sha256"}
ORG = os.environ["TS_ORGANIZATION_ID"]
BASE = urllib.parse.urlsplit(os.environ["TS_HOST"].rstrip("/"))


def call(method, path, payload=None):
    url = "%s://%s%s" % (BASE.scheme, BASE.netloc, path)
    body = json.dumps(payload) if payload is not None else ""
    content_type = "application/json" if payload is not None else ""
    sender = Sender(CREDENTIALS, url, method, content=body, content_type=content_type,
                    always_hash_content=payload is not None, ext=ORG)
    headers = {"Authorization": sender.request_header}
    if payload is not None:
        headers["Content-Type"] = content_type
    conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=30)
    conn.request(method, path, body=body or None, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    if resp.status != 200:
        print("FAIL %s %s: %d %s" % (method, path, resp.status, raw[:300]), flush=True)
        sys.exit(1)
    sender.accept_response(resp.getheader("Server-Authorization"), content=raw,
                           content_type=resp.getheader("Content-Type"))
    return json.loads(raw)


def main():
    window = urllib.parse.urlencode({"from": os.environ["TS_FROM"], "until": os.environ["TS_UNTIL"]})
    pages, alerts, token = 0, [], None
    while True:
        query = window + ("&token=" + urllib.parse.quote(token, safe="") if token else "")
        page = call("GET", "/v2/alerts?" + query)
        pages += 1
        if len(page["alerts"]) > 100:
            print("FAIL more than 100 alerts on a page", flush=True)
            sys.exit(1)
        alerts.extend(page["alerts"])
        token = page["token"]
        if not token:
            break
    print("pages %d" % pages, flush=True)
    print("alerts %d" % len(alerts), flush=True)
    done = call("POST", "/v2/alerts/dismiss", {"from": os.environ["TS_FROM"], "until": os.environ["TS_UNTIL"],
                                               "severity": 3, "dismissReason": "MAINTENANCE"})
    print("dismissed %d" % done["count"], flush=True)


if __name__ == "__main__":
    main()
