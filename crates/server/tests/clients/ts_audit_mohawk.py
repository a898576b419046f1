#!/usr/bin/env python3
"""A Threat Stack-style audit export on PyPI `mohawk`: read the organization's audit log (`/v2/auditlogs`) in a
time window, following `token` until it is null, verifying every response's `Server-Authorization`.

Configuration as in Threat Stack's examples: TS_USER_ID, TS_API_KEY, TS_ORGANIZATION_ID, TS_HOST (base URL),
TS_FROM (ISO-8601, partial precision allowed). Prints `records N`, then one `action <action> <source>` line
per record; exits 1 with `FAIL …` when a response is not as Threat Stack documents it or does not verify.
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
FIELDS = {"id", "userEmail", "userId", "organizationId", "result", "crud", "action", "source", "description",
          "eventTime", "context"}


def get(path):
    url = "%s://%s%s" % (BASE.scheme, BASE.netloc, path)
    sender = Sender(CREDENTIALS, url, "GET", content="", content_type="", always_hash_content=False, ext=ORG)
    conn = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=30)
    conn.request("GET", path, headers={"Authorization": sender.request_header})
    resp = conn.getresponse()
    raw = resp.read()
    if resp.status != 200:
        print("FAIL GET %s: %d %s" % (path, resp.status, raw[:300]), flush=True)
        sys.exit(1)
    sender.accept_response(resp.getheader("Server-Authorization"), content=raw,
                           content_type=resp.getheader("Content-Type"))
    return json.loads(raw)


def main():
    records, token = [], None
    while True:
        query = urllib.parse.urlencode({"from": os.environ["TS_FROM"]})
        if token:
            query += "&token=" + urllib.parse.quote(token, safe="")
        page = get("/v2/auditlogs?" + query)
        if len(page["recs"]) > 100:
            print("FAIL more than 100 records on a page", flush=True)
            sys.exit(1)
        for rec in page["recs"]:
            missing = FIELDS - set(rec)
            if missing or rec["organizationId"] != ORG:
                print("FAIL a record without %s or of another organization: %r" % (sorted(missing), rec), flush=True)
                sys.exit(1)
        records.extend(page["recs"])
        token = page["token"]
        if not token:
            break
    print("records %d" % len(records), flush=True)
    for rec in records:
        print("action %s %s" % (rec["action"], rec["source"]), flush=True)


if __name__ == "__main__":
    main()
