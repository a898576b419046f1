#!/usr/bin/env python3
"""A Threat Stack-style inventory script on PyPI `mohawk`: list the organization's agents, then each agent's
vulnerabilities, then the alerts, following `token` until it is null on every list (pages of 3 to exercise
paging).

Configuration as in Threat Stack's examples: TS_USER_ID, TS_API_KEY, TS_ORGANIZATION_ID, TS_HOST (base URL).
Prints one JSON document: {"agents": [{"id", "hostname", "osVersion", "cves": [[cveNumber, reportedPackage,
systemPackage, severity], ...]}], "alerts": [[title, agentId, severity], ...]}. Exits 1 with `FAIL …` when a
response is not as Threat Stack documents it or its signature does not verify.
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


def call(path):
    url = "%s://%s%s" % (BASE.scheme, BASE.netloc, path)
    sender = Sender(CREDENTIALS, url, "GET", content="", content_type="", ext=ORG)
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


def every(path, collection):
    """Repeats the same query with the page's token until the token is null."""
    items, token = [], None
    while True:
        sep = "&" if "?" in path else "?"
        page = call(path + (sep + "token=" + urllib.parse.quote(token, safe="") if token else ""))
        if len(page[collection]) > 100:
            print("FAIL more than 100 %s on a page" % collection, flush=True)
            sys.exit(1)
        items.extend(page[collection])
        token = page["token"]
        if token is None:
            return items


def main():
    out = {"agents": [], "alerts": []}
    for agent in every("/v2/agents?limit=3", "agents"):
        cves = every("/v2/vulnerabilities/agent/%s?limit=3" % agent["id"], "cves")
        out["agents"].append({
            "id": agent["id"], "hostname": agent["hostname"], "osVersion": agent["osVersion"],
            "cves": sorted([c["cveNumber"], c["reportedPackage"], c["systemPackage"], c["severity"]] for c in cves),
        })
    for alert in every("/v2/alerts?status=active&limit=3", "alerts"):
        out["alerts"].append([alert["title"], alert["agentId"], alert["severity"]])
    print(json.dumps(out, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
