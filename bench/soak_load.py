#!/usr/bin/env python3
"""Mixed workload and per-minute report for the soak test (bench/soak.sh).

Against a running `tlink serve` (and the stand-ins of bench/soak_peers.py), it sets up an organization: signs
in as the admin, creates an API key, moves the organization to ENTERPRISE (no monthly tool-run quota), creates
two alert rules whose webhooks go to the stand-in receiver, a pool of assets to read and a set of monitored
assets (interval 1 minute). Then, for the set time and at a steady rate, all at once:

  reads   GET an asset, list assets (with and without filters), list reports, GET a report
  writes  create an asset, change it (label, monitoring on or off), delete it (a churning pool)
  runs    POST tool runs: ip-reputation (by target, and by monitored asset so rules fire), ssl against the
          TLS stand-in, whois and dns against their stand-ins
  alerts  every 5 s, list OPEN alerts and resolve them, so the next matching scan raises a new alert and
          a new webhook delivery
and the server's scheduler scans the monitored assets several times a minute.

Every minute it prints one line and appends it to the CSV: the server's RSS (VmRSS) and open file
descriptors (the minute's lowest and highest of 12 samples) and threads from /proc, the queue depth from
/metrics (tlink_queue_depth, ready and delayed), requests sent that minute, errors, p50/p99 latency (client
side, send to last byte), tool runs finished (tlink_tool_runs_total by outcome), scheduled scans
(tlink_scheduled_scans_total) and webhook deliveries the receiver accepted.

At the end it prints the first and last minutes and a verdict: "flat" when, from the middle of the run to its
end, RSS grew by less than --rss-growth (10 %) and the lowest descriptor count by at most --fd-growth (5)
(each the median of up to three minutes, from the middle on and at the end; runs shorter than 4 minutes are
not judged); otherwise "grew". Exit status: 0 flat with errors within --max-error-rate; 1 grew, too many
errors, or part of the workload never happened (no scans, no finished runs or no deliveries); 2 set-up
failed, the server went away, or more than half of the first minute's requests failed (the run stops
there); 130 interrupted.

Python 3.11 standard library only.
"""

import argparse
import asyncio
import collections
import csv
import ipaddress
import json
import math
import os
import random
import re
import signal
import statistics
import sys
import time
import urllib.parse
import urllib.request

EXPECT = {"GET": 200, "PATCH": 200, "DELETE": 200, "PUT": 200}


class Fatal(Exception):
    """Set-up failed or the server went away."""


# ---------------------------------------------------------------------------------------------- HTTP client


class Conn:
    """One keep-alive HTTP/1.1 connection (Content-Length or chunked answers)."""

    def __init__(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.reader = self.writer = None

    async def close(self):
        w, self.reader, self.writer = self.writer, None, None
        if w is not None:
            w.close()
            try:
                await w.wait_closed()
            except (OSError, ConnectionError):
                pass

    async def request(self, method, path, body=None, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: application/json"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            lines.append("Content-Type: application/json")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(data)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
        for attempt in (0, 1):
            reused = self.writer is not None
            if self.writer is None:
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.timeout)
            try:
                self.writer.write(raw)
                await self.writer.drain()
                status_line = await asyncio.wait_for(self.reader.readline(), self.timeout)
                if not status_line:
                    raise ConnectionResetError("the connection closed before an answer")
            except (OSError, ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                # A kept-alive connection the server closed meanwhile: once more on a new one.
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                await self.close()
                raise
            try:
                return await asyncio.wait_for(self._rest(status_line), self.timeout)
            except BaseException:
                await self.close()
                raise
        raise ConnectionResetError("unreachable")

    async def _rest(self, status_line):
        parts = status_line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ConnectionError(f"not an HTTP answer: {status_line[:80]!r}")
        status = int(parts[1])
        headers = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise ConnectionResetError("the connection closed inside the headers")
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(chunks)
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body


# ---------------------------------------------------------------------------------------------- recording


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(p * len(sorted_values)) - 1)]


class Recorder:
    def __init__(self):
        self.minute = []  # latencies (ms) of this minute
        self.minute_errors = 0
        self.ops = collections.defaultdict(lambda: {"n": 0, "errors": 0, "lat": [], "statuses": collections.Counter()})
        self.samples = []  # first distinct errors, for the summary
        self.total = 0
        self.total_errors = 0
        self.late = 0  # ticks a lane skipped because it fell behind

    def add(self, op, ms, error, status, body):
        self.minute.append(ms)
        self.total += 1
        o = self.ops[op]
        o["n"] += 1
        if len(o["lat"]) < 200_000:
            o["lat"].append(ms)
        if error:
            self.minute_errors += 1
            self.total_errors += 1
            o["errors"] += 1
            o["statuses"][status if status is not None else error.split(":")[0]] += 1
            key = (op, status)
            if len(self.samples) < 20 and all(k != key for k, _ in self.samples):
                text = body[:300].decode("utf-8", "replace") if body else ""
                self.samples.append((key, f"{op}: {error} {text}".strip()))

    def take_minute(self):
        lat, errs = sorted(self.minute), self.minute_errors
        self.minute, self.minute_errors = [], 0
        return lat, errs


REC = Recorder()


class Api:
    def __init__(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.key = None
        self.org = None

    def conn(self):
        return Conn(self.host, self.port, self.timeout)

    async def call(self, conn, op, method, path, body=None, expect=None):
        """A workload request, recorded. Returns the decoded JSON answer, or None on any failure."""
        expect = expect or EXPECT.get(method, 200)
        t = time.perf_counter()
        status, raw, error = None, b"", None
        try:
            status, raw = await conn.request(method, path, body, {"X-API-Key": self.key})
            if status != expect:
                error = f"HTTP {status}"
        except Exception as e:  # noqa: BLE001 - every failure of a request is recorded as an error
            error = f"{type(e).__name__}: {e}"
        ms = (time.perf_counter() - t) * 1000
        doc = None
        if error is None:
            try:
                doc = json.loads(raw) if raw else {}
            except ValueError:
                error = "the answer is not JSON"
        REC.add(op, ms, error, status, raw)
        return None if error else doc

    async def setup_call(self, conn, method, path, body=None, expect=200, token=None, anonymous=False):
        """A set-up request: any failure stops the run. With the API key unless a bearer token is given."""
        if anonymous:
            headers = {}
        elif token:
            headers = {"Authorization": f"Bearer {token}"}
        else:
            headers = {"X-API-Key": self.key}
        try:
            status, raw = await conn.request(method, path, body, headers)
        except Exception as e:  # noqa: BLE001
            raise Fatal(f"{method} {path}: {type(e).__name__}: {e}") from None
        if status != expect:
            raise Fatal(f"{method} {path}: HTTP {status} (expected {expect}): {raw[:500].decode('utf-8', 'replace')}")
        try:
            return json.loads(raw)
        except ValueError:
            raise Fatal(f"{method} {path}: the answer is not JSON") from None


# ---------------------------------------------------------------------------------------------- the server


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        raise Fatal(f"the server (pid {pid}) is gone") from None
    return out


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        raise Fatal(f"the server (pid {pid}) is gone") from None


LABELS = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format → {name: [(labels, value)]}."""
    out = collections.defaultdict(list)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out[m.group(1)].append((dict(LABELS.findall(m.group(2) or "")), value))
    return out


def msum(metrics, name, **labels):
    return sum(v for lab, v in metrics.get(name, []) if all(lab.get(k) == want for k, want in labels.items()))


def fetch_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


# ---------------------------------------------------------------------------------------------- the workload


class Workload:
    def __init__(self, api, args, ports):
        self.api, self.args, self.ports = api, args, ports
        self.run_id = "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
        self.read_ids = []  # assets that are never deleted
        self.monitored_ip_ids = []
        self.churn = collections.deque()  # live churned asset ids, oldest first
        self.recent_reports = collections.deque(maxlen=500)
        self.seq = 0
        self.write_phase = 0
        # Churned IPs: consecutive from a random point in 10.0.0.0/8, so a reused database sees new values.
        self.churn_ip_base = random.randrange(1 << 24)
        # Monitored and read-pool IPs: from a random point in 198.18.0.0/15 (benchmarking addresses); the
        # stand-in's abuse score follows the last octet's parity, so consecutive addresses alternate.
        self.pool_ip_base = int(ipaddress.IPv4Address("198.18.0.0")) + random.randrange(0, (1 << 17) - 4096)

    def next_seq(self):
        self.seq += 1
        return self.seq

    def churn_ip(self, n):
        return str(ipaddress.IPv4Address((10 << 24) + (self.churn_ip_base + n) % (1 << 24)))

    def pool_ip(self, n):
        return str(ipaddress.IPv4Address(self.pool_ip_base + n))

    def domain(self, prefix, n):
        return f"{prefix}-{n}.{self.run_id}.soak.test"

    # ------------------------------------------------------------------------------------------ set-up

    async def setup(self):
        a, args = self.api, self.args
        conn = a.conn()
        login = await a.setup_call(conn, "POST", "/api/auth/login", {"email": args.email, "password": args.password},
                                   anonymous=True)
        token = login["data"]["accessToken"]
        key = await a.setup_call(conn, "POST", "/api/users/me/api-keys", {"name": f"soak-{self.run_id}"}, expect=201,
                                 token=token)
        a.key = key["data"]["key"]
        orgs = await a.setup_call(conn, "GET", "/api/orgs")
        a.org = orgs["data"][0]["id"]
        org = f"/api/orgs/{a.org}"
        # ENTERPRISE without a figure: no monthly tool-run quota (request limits are off in the server).
        await a.setup_call(conn, "PUT", f"{org}/plan", {"plan": "ENTERPRISE"}, token=token)

        hook = f"http://127.0.0.1:{self.ports['http']}"
        rules = [
            ("/hook/ip-reputation", {"name": f"soak {self.run_id}: abusive address", "severity": "HIGH",
                                     "condition": {"tool": "ip-reputation", "field": "abuseipdb.abuseConfidenceScore",
                                                   "operator": "gte", "value": 75}}),
            ("/hook/ssl", {"name": f"soak {self.run_id}: untrusted certificate", "severity": "MEDIUM",
                           "condition": {"tool": "ssl", "field": "trusted", "operator": "eq", "value": False}}),
        ]
        for path, rule in rules:
            rule.update({"notifyWebhook": True, "notifyEmail": False, "webhookUrl": hook + path})
            made = await a.setup_call(conn, "POST", f"{org}/alert-rules", rule, expect=201)
            secret = made["data"].get("webhookSecret")
            if secret:
                req = urllib.request.Request(hook + "/_soak/secret", method="POST",
                                             data=json.dumps({"path": path, "secret": secret}).encode())
                await asyncio.to_thread(urllib.request.urlopen, req, None, 10)

        for i in range(args.monitored):
            # Every other asset an IP; consecutive addresses, so about half of them match the abuse rule.
            kind, value = ("IP", self.pool_ip(i // 2)) if i % 2 == 0 else ("DOMAIN", self.domain("mon", i))
            made = await a.setup_call(conn, "POST", f"{org}/assets",
                                      {"type": kind, "value": value, "label": f"soak monitored {i}",
                                       "isMonitored": True, "monitorIntervalMinutes": 1}, expect=201)
            self.read_ids.append(made["data"]["id"])
            if kind == "IP":
                self.monitored_ip_ids.append(made["data"]["id"])
        for i in range(args.static_assets):
            kind, value = (("IP", self.pool_ip(args.monitored + i // 2)) if i % 2 == 0
                           else ("DOMAIN", self.domain("read", i)))
            made = await a.setup_call(conn, "POST", f"{org}/assets",
                                      {"type": kind, "value": value, "label": f"soak read {i}"}, expect=201)
            self.read_ids.append(made["data"]["id"])
        await conn.close()

    # ------------------------------------------------------------------------------------------ steps

    async def read_step(self, conn):
        a, org, r = self.api, f"/api/orgs/{self.api.org}", random.random()
        if r < 0.45:
            await a.call(conn, "GET asset", "GET", f"{org}/assets/{random.choice(self.read_ids)}")
        elif r < 0.70:
            q = random.choice(["", "&type=IP", "&type=DOMAIN", "&isMonitored=true", f"&q={self.run_id}"])
            await a.call(conn, "list assets", "GET", f"{org}/assets?limit=50{q}")
        elif r < 0.90 or not self.recent_reports:
            q = random.choice(["", "", "&toolKey=ip-reputation", "&status=COMPLETED"])
            await a.call(conn, "list reports", "GET", f"{org}/tools/reports?limit=20{q}")
        else:
            rid = random.choice(self.recent_reports)
            await a.call(conn, "GET report", "GET", f"{org}/tools/reports/{rid}")

    async def write_step(self, conn):
        a, org = self.api, f"/api/orgs/{self.api.org}"
        phase, self.write_phase = self.write_phase, (self.write_phase + 1) % 3
        if phase == 0 or len(self.churn) < self.args.churn_min:
            n = self.next_seq()
            kind, value = ("IP", self.churn_ip(n)) if n % 2 else ("DOMAIN", self.domain("churn", n))
            doc = await a.call(conn, "create asset", "POST", f"{org}/assets",
                               {"type": kind, "value": value, "label": f"soak churn {n}"}, expect=201)
            if doc:
                self.churn.append(doc["data"]["id"])
        elif phase == 1:
            # Taken out while in flight, so no other worker deletes it meanwhile.
            i = random.randrange(len(self.churn))
            asset = self.churn[i]
            del self.churn[i]
            r = random.random()
            if r < 0.2:
                body = {"isMonitored": True, "monitorIntervalMinutes": 1}
            elif r < 0.4:
                body = {"isMonitored": False}
            else:
                body = {"label": f"soak churn changed {self.next_seq()}"}
            await a.call(conn, "update asset", "PATCH", f"{org}/assets/{asset}", body)
            self.churn.append(asset)
        else:
            asset = self.churn.popleft()
            await a.call(conn, "delete asset", "DELETE", f"{org}/assets/{asset}")

    async def run_step(self, conn):
        a, org, r = self.api, f"/api/orgs/{self.api.org}", random.random()
        n = self.next_seq()
        if r < 0.30:
            op, body = "run ip-reputation", {"toolKey": "ip-reputation", "target": self.churn_ip(n)}
        elif r < 0.50 and self.monitored_ip_ids:
            op, body = "run ip-reputation (asset)", {"toolKey": "ip-reputation",
                                                     "assetId": random.choice(self.monitored_ip_ids)}
        elif r < 0.65:
            op, body = "run ssl", {"toolKey": "ssl", "target": f"127.0.0.1:{self.ports['tls']}"}
        elif r < 0.80:
            op, body = "run whois", {"toolKey": "whois", "target": self.domain("whois", n)}
        else:
            op, body = "run dns", {"toolKey": "dns", "target": self.domain("dns", n)}
        doc = await a.call(conn, op, "POST", f"{org}/tools/run", body, expect=202)
        if doc:
            self.recent_reports.append(doc["data"]["reportId"])

    async def alert_step(self, conn):
        a, org = self.api, f"/api/orgs/{self.api.org}"
        doc = await a.call(conn, "list alerts", "GET", f"{org}/alerts?status=OPEN&limit=100")
        for alert in (doc or {}).get("data", []):
            await a.call(conn, "resolve alert", "PATCH", f"{org}/alerts/{alert['id']}",
                         {"status": "RESOLVED", "note": "soak"})


async def lane(api, rate, workers, step, stop):
    """`workers` connections sharing `rate` requests a second, evenly spaced."""
    if rate <= 0 or workers <= 0:
        return
    loop = asyncio.get_running_loop()
    interval = workers / rate

    async def worker(i):
        conn = api.conn()
        nxt = loop.time() + i / rate
        try:
            while not stop.is_set():
                now = loop.time()
                if nxt > now:
                    try:
                        await asyncio.wait_for(stop.wait(), nxt - now)
                        break
                    except TimeoutError:
                        pass
                elif now - nxt > 5 * interval:
                    REC.late += 1
                    nxt = now
                await step(conn)
                nxt += interval
        finally:
            await conn.close()

    await asyncio.gather(*(worker(i) for i in range(workers)))


# ---------------------------------------------------------------------------------------------- the report

COLUMNS = ["minute", "rss_mb", "fds_min", "fds_max", "threads", "queue_ready", "queue_delayed", "requests",
           "errors", "p50_ms", "p99_ms", "runs_completed", "runs_failed", "scheduled_scans", "webhooks_received"]
HEADER = (f"{'min':>4} {'rss_MB':>7} {'fds':>5} {'fds_max':>7} {'thr':>4} {'q_ready':>7} {'q_delay':>7} "
          f"{'reqs':>6} {'errs':>5} {'p50_ms':>7} {'p99_ms':>8} {'runs':>5} {'run_err':>7} {'scans':>5} {'hooks':>5}")


def fmt_row(r):
    return (f"{r['minute']:>4} {r['rss_mb']:>7.1f} {r['fds_min']:>5} {r['fds_max']:>7} {r['threads']:>4} "
            f"{r['queue_ready']:>7.0f} {r['queue_delayed']:>7.0f} {r['requests']:>6} {r['errors']:>5} "
            f"{r['p50_ms']:>7.1f} {r['p99_ms']:>8.1f} {r['runs_completed']:>5.0f} {r['runs_failed']:>7.0f} "
            f"{r['scheduled_scans']:>5.0f} {r['webhooks_received']:>5.0f}")


class Sampler:
    def __init__(self, api, args, ports):
        self.api, self.args = api, args
        self.pid = args.pid
        self.metrics_url = f"http://{api.host}:{api.port}/metrics"
        self.stats_url = f"http://127.0.0.1:{ports['http']}/_soak/stats"
        self.prev = None
        self.fds = []
        self.rows = []

    async def counters(self):
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(self.metrics_url, timeout=10).read().decode())
        m = parse_metrics(text)
        try:
            peers = await asyncio.to_thread(fetch_json, self.stats_url)
            received = float(peers.get("webhook_delivered", 0))
        except (OSError, ValueError) as e:
            print(f"warning: reading {self.stats_url} failed: {e}", file=sys.stderr)
            received = self.prev["webhooks_received"] if self.prev else 0.0
        return {
            "queue_ready": msum(m, "tlink_queue_depth", state="ready"),
            "queue_delayed": msum(m, "tlink_queue_depth", state="delayed"),
            "runs_completed": msum(m, "tlink_tool_runs_total", outcome="completed"),
            "runs_failed": msum(m, "tlink_tool_runs_total", outcome="error"),
            "scheduled_scans": msum(m, "tlink_scheduled_scans_total"),
            "webhooks_received": received,
        }

    async def baseline(self):
        try:
            self.prev = await self.counters()
        except OSError as e:
            raise Fatal(f"reading {self.metrics_url}: {e}") from None
        self.fds = []

    def sample_fds(self):
        self.fds.append(open_fds(self.pid))

    async def minute(self, n):
        st = proc_status(self.pid)
        self.sample_fds()
        try:
            cur = await self.counters()
        except (OSError, ValueError) as e:
            proc_status(self.pid)  # gone: Fatal
            print(f"warning: reading /metrics failed: {e}", file=sys.stderr)
            cur = dict(self.prev)
        lat, errs = REC.take_minute()
        row = {
            "minute": n,
            "rss_mb": int(st.get("VmRSS", "0 kB").split()[0]) / 1024,
            "fds_min": min(self.fds),
            "fds_max": max(self.fds),
            "threads": int(st.get("Threads", "0")),
            "queue_ready": cur["queue_ready"],
            "queue_delayed": cur["queue_delayed"],
            "requests": len(lat),
            "errors": errs,
            "p50_ms": pct(lat, 0.50),
            "p99_ms": pct(lat, 0.99),
        }
        for k in ("runs_completed", "runs_failed", "scheduled_scans", "webhooks_received"):
            row[k] = max(0.0, cur[k] - self.prev[k])
        self.prev = cur
        self.fds = []
        self.rows.append(row)
        return row


def verdict(rows, args):
    """(judged, flat, text lines)."""
    n = len(rows)
    if n < 4:
        return False, True, [f"verdict: not judged (the run has {n} minute(s); at least 4 are needed)"]
    # Up to three minutes from the middle on, and as many at the end, never overlapping.
    h = n // 2
    w = max(1, min(3, (n - h) // 2))
    mid = rows[h:h + w]
    end = rows[n - w:]
    rss_mid = statistics.median(r["rss_mb"] for r in mid)
    rss_end = statistics.median(r["rss_mb"] for r in end)
    fd_mid = statistics.median(r["fds_min"] for r in mid)
    fd_end = statistics.median(r["fds_min"] for r in end)
    growth = (rss_end - rss_mid) / rss_mid if rss_mid else 0.0
    rss_ok = growth < args.rss_growth
    fd_ok = fd_end - fd_mid <= args.fd_growth
    def span(rs):
        return f"minute {rs[0]['minute']}" if len(rs) == 1 else f"minutes {rs[0]['minute']}-{rs[-1]['minute']}"

    grew = [what for what, ok in (("RSS", rss_ok), ("file descriptors", fd_ok)) if not ok]
    lines = [
        f"second half: RSS {rss_mid:.1f} → {rss_end:.1f} MB ({growth * 100:+.1f} %, limit +{args.rss_growth * 100:.0f} %), "
        f"lowest fds {fd_mid:.0f} → {fd_end:.0f} ({fd_end - fd_mid:+.0f}, limit +{args.fd_growth}) "
        f"({span(mid)} against {span(end)}, medians)",
        "verdict: " + (f"grew ({', '.join(grew)})" if grew else "flat"),
    ]
    return True, rss_ok and fd_ok, lines


def summary(rows, args, interrupted):
    out = []
    if rows:
        first, last = rows[0], rows[-1]
        out.append(f"first minute: RSS {first['rss_mb']:.1f} MB, fds {first['fds_min']}-{first['fds_max']}, "
                   f"p99 {first['p99_ms']:.1f} ms")
        out.append(f"last minute:  RSS {last['rss_mb']:.1f} MB, fds {last['fds_min']}-{last['fds_max']}, "
                   f"p99 {last['p99_ms']:.1f} ms")
        tot = {k: sum(r[k] for r in rows) for k in ("runs_completed", "runs_failed", "scheduled_scans",
                                                    "webhooks_received")}
        out.append(f"totals: {REC.total} requests, {REC.total_errors} errors, {tot['runs_completed']:.0f} runs completed, "
                   f"{tot['runs_failed']:.0f} runs failed, {tot['scheduled_scans']:.0f} scheduled scans, "
                   f"{tot['webhooks_received']:.0f} webhooks received; {REC.late} ticks skipped by lanes behind")
    out.append("")
    out.append(f"{'request':<28} {'count':>8} {'errors':>7} {'p50_ms':>8} {'p99_ms':>8}  error statuses")
    for op in sorted(REC.ops):
        o = REC.ops[op]
        lat = sorted(o["lat"])
        st = ", ".join(f"{k}×{v}" for k, v in o["statuses"].most_common())
        out.append(f"{op:<28} {o['n']:>8} {o['errors']:>7} {pct(lat, 0.5):>8.1f} {pct(lat, 0.99):>8.1f}  {st}")
    if REC.samples:
        out.append("")
        out.append("first errors:")
        out.extend(f"  {text}" for _, text in REC.samples)
    out.append("")
    failures = []
    judged, flat, lines = verdict(rows, args)
    out.extend(lines)
    if judged and not flat:
        failures.append("memory or file descriptors grew")
    rate = REC.total_errors / REC.total if REC.total else 0.0
    if rate > args.max_error_rate:
        failures.append(f"errors: {rate * 100:.2f} % of requests (limit {args.max_error_rate * 100:.2f} %)")
    if rows and not interrupted:
        missing = [name for name, key in (("scheduled scans", "scheduled_scans"), ("finished tool runs", "runs_completed"),
                                          ("webhook deliveries", "webhooks_received"))
                   if sum(r[key] for r in rows) == 0]
        if missing:
            failures.append("the workload did not run: no " + ", no ".join(missing))
    out.append("result: " + ("ok" if not failures else "FAILED: " + "; ".join(failures)))
    return "\n".join(out), failures


# ---------------------------------------------------------------------------------------------- main


class Tee:
    """stdout that is also written to a file."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self):
        for s in self.streams:
            s.flush()


async def run(args):
    url = urllib.parse.urlsplit(args.base)
    if url.scheme != "http" or not url.hostname:
        raise Fatal(f"--base must be an http:// URL, not {args.base}")
    ports = json.loads(open(args.peers).read()) if args.peers else None
    if not ports:
        raise Fatal("--peers is required")
    api = Api(url.hostname, url.port or 80, args.timeout)
    proc_status(args.pid)

    stop = asyncio.Event()
    interrupted = []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda s=sig: (interrupted.append(s), stop.set()))

    wl = Workload(api, args, ports)
    print(f"setting up: {args.monitored} monitored assets, {args.static_assets} more to read, 2 alert rules", flush=True)
    await wl.setup()
    if stop.is_set():
        return 130
    sampler = Sampler(api, args, ports)
    await sampler.baseline()

    r = args.rate
    rates = {"reads": 0.69 * r, "writes": 0.20 * r, "runs": 0.10 * r}
    print(f"workload: ~{r:g} requests/s (reads {rates['reads']:g}/s, writes {rates['writes']:g}/s, tool runs "
          f"{rates['runs']:g}/s, alerts listed and resolved every 5 s) for {args.minutes} minute(s)", flush=True)
    lanes = [
        asyncio.create_task(lane(api, rates["reads"], 4, wl.read_step, stop)),
        asyncio.create_task(lane(api, rates["writes"], 2, wl.write_step, stop)),
        asyncio.create_task(lane(api, rates["runs"], 2, wl.run_step, stop)),
        asyncio.create_task(lane(api, 0.2, 1, wl.alert_step, stop)),
    ]
    csv_file = open(args.csv, "w", newline="") if args.csv else None
    writer = csv.DictWriter(csv_file, fieldnames=COLUMNS) if csv_file else None
    if writer:
        writer.writeheader()
        csv_file.flush()
    print(HEADER, flush=True)
    start = loop.time()
    fatal = None
    try:
        for n in range(1, args.minutes + 1):
            for k in range(1, 13):
                t = start + (n - 1) * 60 + k * 5
                try:
                    await asyncio.wait_for(stop.wait(), max(0.0, t - loop.time()))
                except TimeoutError:
                    pass
                if stop.is_set():
                    break
                for task in lanes:
                    if task.done() and task.exception():
                        raise task.exception()
                if k < 12:
                    sampler.sample_fds()
            if stop.is_set():
                break
            row = await sampler.minute(n)
            print(fmt_row(row), flush=True)
            if writer:
                writer.writerow({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
                csv_file.flush()
            if n == 1 and row["errors"] > row["requests"] / 2:
                raise Fatal("more than half of the requests of the first minute failed; stopping early "
                            "(see the first errors above)")
    except Fatal as e:
        fatal = e
    finally:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.gather(*lanes, return_exceptions=True), 60)
        except TimeoutError:
            pass
        if csv_file:
            csv_file.close()
    print()
    text, failures = summary(sampler.rows, args, bool(interrupted))
    print(text, flush=True)
    if fatal:
        raise fatal
    if interrupted:
        return 130
    return 1 if failures else 0


def main():
    doc_head, doc_rest = __doc__.split("\n\n", 1)
    ap = argparse.ArgumentParser(description=doc_head, epilog=doc_rest,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the server's URL, e.g. http://127.0.0.1:18200")
    ap.add_argument("--pid", type=int, required=True, help="the server's process id (for /proc)")
    ap.add_argument("--peers", required=True, help="the JSON file of ports written by soak_peers.py --ready")
    ap.add_argument("--email", required=True, help="the admin's e-mail (admin_email)")
    ap.add_argument("--password", required=True, help="the admin's password (admin_password)")
    ap.add_argument("--minutes", type=int, default=30, help="how long to run (default 30)")
    ap.add_argument("--rate", type=float, default=100, help="requests a second, all lanes together (default 100)")
    ap.add_argument("--monitored", type=int, default=30, help="monitored assets, half IPs, half domains (default 30)")
    ap.add_argument("--static-assets", type=int, default=100, help="more assets, only read (default 100)")
    ap.add_argument("--churn-min", type=int, default=50, help="churned assets kept alive before deleting (default 50)")
    ap.add_argument("--csv", help="write the per-minute lines here")
    ap.add_argument("--log", help="also write everything printed to this file")
    ap.add_argument("--timeout", type=float, default=30, help="seconds one request may take (default 30)")
    ap.add_argument("--max-error-rate", type=float, default=0.01, help="failed requests allowed, a fraction (0.01)")
    ap.add_argument("--rss-growth", type=float, default=0.10, help="RSS growth allowed over the second half (0.10)")
    ap.add_argument("--fd-growth", type=int, default=5, help="growth of the lowest fd count allowed (5)")
    args = ap.parse_args()
    if args.minutes < 1:
        ap.error("--minutes must be at least 1")
    if args.rate <= 0:
        ap.error("--rate must be positive")
    if args.monitored < 2 or args.static_assets < 0 or args.churn_min < 1:
        ap.error("--monitored must be at least 2, --static-assets at least 0, --churn-min at least 1")
    if args.log:
        sys.stdout = Tee(sys.stdout, open(args.log, "w"))
    try:
        code = asyncio.run(run(args))
    except Fatal as e:
        print(f"soak: {e}", flush=True)  # stdout, so that --log has it too
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
