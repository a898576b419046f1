#!/usr/bin/env python3
"""Loopback stand-ins for the soak test (bench/soak.sh): the peers tlink's tools and deliveries talk to.

One process, one thread per listener (and per connection), all on 127.0.0.1 and on free ports:

  http   an AbuseIPDB v2 stand-in (GET /api/v2/check?ipAddress=…, header `Key`), the webhook receiver
         (POST /hook/<name>, HMAC checked when the secret is registered), and the soak's own endpoints:
         POST /_soak/secret {"path": "/hook/…", "secret": "whsec_…"} and GET /_soak/stats (counters, JSON)
  tls    a TLS 1.2/1.3 server with the given certificate: completes a handshake, waits for the client
         to close, closes (the ssl tool's target; its legacy-version probes are refused)
  whois  a WHOIS server (RFC 3912): one query line, one answer with a few fields and no referral, closed
  dns    a DNS responder over UDP: every name has one A record, 127.0.0.1; other types are NODATA

AbuseIPDB answers abuseConfidenceScore 100 for IPv4 addresses whose last octet is odd and 0 otherwise, so an
alert rule on the score matches about half of the addresses. The receiver answers 503 to every
--webhook-fail-every-th delivery request (0: never), which the server retries a few seconds later.

When every listener is bound, the ports are written as JSON to --ready: {"http": …, "tls": …, "whois": …,
"dns": …}. Runs until SIGTERM or SIGINT. Python 3.11 standard library only.
"""

import argparse
import hashlib
import hmac
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"


class Stats:
    """Counters shared by every listener, read through GET /_soak/stats."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = {}
        self._webhook_ids = set()
        self.started = time.time()

    def add(self, name, n=1):
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + n

    def seen_webhook(self, wid):
        """Whether this webhook-id was answered 2xx before (a redelivery)."""
        with self._lock:
            if wid in self._webhook_ids:
                return True
            self._webhook_ids.add(wid)
            return False

    def snapshot(self):
        with self._lock:
            out = dict(self._counts)
            out["webhook_unique_ids"] = len(self._webhook_ids)
        out["uptime_secs"] = round(time.time() - self.started, 1)
        return out


STATS = Stats()
SECRETS = {}  # webhook path -> secret text
SECRETS_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------- HTTP


def abuse_answer(ip):
    try:
        last = int(ip.rsplit(".", 1)[1]) if "." in ip else 0
    except ValueError:
        last = 0
    score = 100 if last % 2 == 1 else 0
    reports = [
        {
            "reportedAt": "2024-01-01T00:00:00+00:00",
            "comment": "soak stand-in report",
            "categories": [18, 22],
            "reporterId": 1,
            "reporterCountryCode": "ZZ",
            "reporterCountryName": "Nowhere",
        }
    ] if score else []
    return {
        "data": {
            "ipAddress": ip,
            "isPublic": True,
            "ipVersion": 6 if ":" in ip else 4,
            "isWhitelisted": False,
            "abuseConfidenceScore": score,
            "countryCode": "ZZ",
            "countryName": "Nowhere",
            "usageType": "Data Center/Web Hosting/Transit",
            "isp": "Soak Networks",
            "domain": "soak.test",
            "hostnames": [],
            "isTor": False,
            "totalReports": len(reports),
            "numDistinctUsers": len(reports),
            "lastReportedAt": "2024-01-01T00:00:00+00:00" if reports else None,
            "reports": reports,
        }
    }


class HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the server's HTTP client expects
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall between them
    server_version = "soak-peers"
    timeout = 120  # an idle kept-alive connection is closed after this long

    api_key = ""
    fail_every = 0

    def log_message(self, fmt, *args):  # quiet: counters say what happened
        pass

    def answer(self, status, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/api/v2/check":
            STATS.add("abuseipdb_requests")
            if self.headers.get("Key") != self.api_key:
                STATS.add("abuseipdb_bad_key")
                return self.answer(401, {"errors": [{"detail": "Authentication failed.", "status": 401}]})
            q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
            ip = (q.get("ipAddress") or [""])[0]
            if not ip:
                return self.answer(422, {"errors": [{"detail": "The ip address field is required.", "status": 422}]})
            return self.answer(200, abuse_answer(ip))
        if url.path == "/_soak/stats":
            return self.answer(200, STATS.snapshot())
        if url.path == "/_soak/health":
            return self.answer(200, {"ok": True})
        STATS.add("http_unknown_path")
        return self.answer(404, {"error": "not found"})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        body = self.read_body()
        if url.path == "/_soak/secret":
            try:
                req = json.loads(body)
                with SECRETS_LOCK:
                    SECRETS[str(req["path"])] = str(req["secret"])
            except (ValueError, KeyError, TypeError):
                return self.answer(400, {"error": "expected {\"path\": …, \"secret\": …}"})
            return self.answer(200, {"ok": True})
        if url.path.startswith("/hook/"):
            STATS.add("webhook_requests")
            STATS.add("webhook_requests:" + url.path)
            with SECRETS_LOCK:
                secret = SECRETS.get(url.path)
            if secret is not None:
                want = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                got = self.headers.get("X-TLINK-Signature", "")
                if not hmac.compare_digest(want, got):
                    STATS.add("webhook_bad_signature")
                    return self.answer(400, {"error": "bad signature"})
            n = STATS_SEQ.next()
            if self.fail_every and n % self.fail_every == 0:
                STATS.add("webhook_answered_503")
                return self.answer(503, {"error": "try again"}, [("Retry-After", "1")])
            wid = self.headers.get("webhook-id", "")
            if wid and STATS.seen_webhook(wid):
                STATS.add("webhook_duplicates")
            STATS.add("webhook_delivered")
            return self.answer(200, {"ok": True})
        STATS.add("http_unknown_path")
        return self.answer(404, {"error": "not found"})


class Seq:
    def __init__(self):
        self._lock = threading.Lock()
        self._n = 0

    def next(self):
        with self._lock:
            self._n += 1
            return self._n


STATS_SEQ = Seq()


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        STATS.add("http_connection_errors")


# ---------------------------------------------------------------------------------------------- TLS


class TlsHandler(socketserver.BaseRequestHandler):
    context = None

    def handle(self):
        sock = self.request
        sock.settimeout(10)
        try:
            tls = self.context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            STATS.add("tls_handshakes_refused")  # the legacy-version probes end here
            return
        STATS.add("tls_handshakes")
        try:
            tls.settimeout(5)
            while tls.recv(4096):
                pass
        except (ssl.SSLError, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass


class QuietTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        STATS.add("tcp_connection_errors")


# ---------------------------------------------------------------------------------------------- WHOIS


class WhoisHandler(socketserver.StreamRequestHandler):
    timeout = 10
    disable_nagle_algorithm = True

    def handle(self):
        try:
            query = self.rfile.readline(1024).decode("ascii", "replace").strip()
        except OSError:
            return
        STATS.add("whois_queries")
        subject = query.split()[-1] if query.split() else ""
        if _is_ip(subject):
            text = (
                f"% soak stand-in\r\n\r\nNetRange:       {subject} - {subject}\r\nCIDR:           {subject}/32\r\n"
                "NetName:        SOAK-NET\r\nOrgName:        Soak Networks\r\nCountry:        ZZ\r\n"
                "OriginAS:       AS64500\r\nRegDate:        2020-01-01\r\nUpdated:        2024-01-01\r\n"
            )
        else:
            text = (
                f"Domain Name: {subject.upper()}\r\nRegistrar: Soak Registrar\r\n"
                "Creation Date: 2020-01-01T00:00:00Z\r\nRegistry Expiry Date: 2035-01-01T00:00:00Z\r\n"
                "Name Server: NS1.SOAK.TEST\r\nName Server: NS2.SOAK.TEST\r\nDomain Status: ok\r\n"
                "Registrant Organization: Soak\r\nRegistrant Country: ZZ\r\n"
            )
        try:
            self.wfile.write(text.encode())
        except OSError:
            pass


def _is_ip(s):
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in s else socket.AF_INET, s)
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- DNS

A_LOOPBACK = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([127, 0, 0, 1])


def dns_loop(sock):
    while True:
        try:
            q, peer = sock.recvfrom(4096)
        except OSError:
            return
        i = 12
        while i < len(q) and q[i] != 0:
            i += 1 + q[i]
        end = i + 5
        if len(q) < 17 or end > len(q):
            STATS.add("dns_malformed")
            continue
        STATS.add("dns_queries")
        is_a = q[i + 1] == 0 and q[i + 2] == 1
        # QR, AA, RD as asked, RA; NOERROR; the question, one answer or none, no other records.
        head = q[:2] + bytes([0x84 | (q[2] & 0x01), 0x80]) + (b"\x00\x01\x00\x01" if is_a else b"\x00\x01\x00\x00")
        head += b"\x00\x00\x00\x00"
        try:
            sock.sendto(head + q[12:end] + (A_LOOPBACK if is_a else b""), peer)
        except OSError:
            STATS.add("dns_send_errors")


# ---------------------------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cert", required=True, help="PEM certificate (chain) of the TLS server")
    ap.add_argument("--key", required=True, help="PEM private key of the TLS server")
    ap.add_argument("--ready", required=True, help="file to write the bound ports to, as JSON")
    ap.add_argument("--abuseipdb-key", default="soak-abuseipdb-key", help="the API key AbuseIPDB requests must carry")
    ap.add_argument("--webhook-fail-every", type=int, default=20,
                    help="answer 503 to every Nth webhook request (0: never; default 20)")
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    TlsHandler.context = ctx
    HttpHandler.api_key = args.abuseipdb_key
    HttpHandler.fail_every = max(0, args.webhook_fail_every)

    http = QuietHTTPServer((HOST, 0), HttpHandler)
    tls = QuietTCPServer((HOST, 0), TlsHandler)
    whois = QuietTCPServer((HOST, 0), WhoisHandler)
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    dns.bind((HOST, 0))

    # Block the stop signals in every thread; the main thread waits for them below.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    for target in (http.serve_forever, tls.serve_forever, whois.serve_forever):
        threading.Thread(target=target, daemon=True).start()
    threading.Thread(target=dns_loop, args=(dns,), daemon=True).start()

    ports = {"http": http.server_address[1], "tls": tls.server_address[1], "whois": whois.server_address[1],
             "dns": dns.getsockname()[1], "pid": os.getpid()}
    tmp = args.ready + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ports, f)
    os.replace(tmp, args.ready)
    print(f"soak peers listening: {json.dumps(ports)}", flush=True)

    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    print(f"soak peers stopping: {json.dumps(STATS.snapshot(), sort_keys=True)}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
