#!/usr/bin/env python3
"""Writes the seed corpora, fuzz/corpus/<target>/, from the inputs the tests already use: the fixtures under
tests/fixtures and crates/*/tests/fixtures, and the strings of the parsers' unit tests. Binary inputs (DNS
messages, TLS records, rpm headers) are built here the way the tests build them. Run from anywhere; it
replaces the seed files it writes and leaves others alone."""

import base64
import hashlib
import hmac
import pathlib
import shutil
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def seed(target, name, data):
    path = CORPUS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def copy(target, name, source):
    path = CORPUS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / source, path)


def pem_to_der(source):
    text = (ROOT / source).read_text()
    body = text.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode("".join(body.split()))


# Hawk headers: the reference implementation's vectors (crates/domain/src/hawk.rs).
for i, header in enumerate([
    'Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", mac="m8r1rHbXN6NgO+KIIhjO7sFRyd78RNGVUwehe8Cp2dU=", ext="some-app-data"',
    'Hawk id="123456", ts="1357926341", nonce="1AwuJD", hash="qAiXIVv+yjDATneWxZP2YCTa9aHRgQdnH9b3Wc+o3dg=", ext="some-app-data", mac="UeYcj5UoTVaAWXNvJfLVia7kU3VabxCqrccXP8sUGC4="',
    'hawk id="123", ts="1353788437", nonce="k3j4h2", mac="bXx7a7p1h9QYQNZ8x7QhvDQym8ACgab4m3lVSFn4DBw=", app="a", dlg="d"',
    'Hawk id="1", ts="1", nonce="n", mac="m", id="2"',
    'Hawk  id="x",ts="1" ,  nonce="n"\t, mac="a b"',
]):
    seed("hawk_header", f"header-{i}", header)

# from / until (crates/domain/src/time.rs).
for i, text in enumerate([
    "2026", "2026-01", "2026-01-31", "2026-01-31Z", "2026-01-31T10", "2026-01-31T10:30", "2026-01-31t10:30:59",
    "2026-01-31T10:00:00.123456", "2026-01-31T10:00:00,5+02:00", "2026-01-31T10:00:00.123Z", "2026-01-31T10:00 0530",
    "2024-02-29T23:59:59-23:59", "2026-01-31 10:00",
]):
    seed("time_period", f"bound-{i}", text)

# Field paths (crates/domain/src/rules).
for i, text in enumerate([
    "abuseipdb.abuseConfidenceScore", "ports[*].port", "a[-1].b", "records.mx[0].preference", "a[1][*][007]",
    "x-y:z@w_0.a[*][*]",
]):
    seed("field_path", f"path-{i}", text)

# Asset values; the first byte picks the type in AssetType::ALL order.
for i, (kind, text) in enumerate([
    (0, "Example.COM."), (0, "bücher.example"), (0, "xn--bcher-kva.example"), (1, "192.0.2.1"), (1, "::ffff:1.2.3.4"),
    (1, "2001:DB8::0:1"), (2, "User.Name+tag@Example.com"), (3, "HTTPS://Example.com:443/a/../b?q=1#f"),
    (3, "http://[::1]:8080/"), (4, "D41D8CD98F00B204E9800998ECF8427E"), (4, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    (5, "as0013335"), (6, ":".join(["AB"] * 32)),
]):
    seed("asset_value", f"asset-{i}", bytes([kind]) + text.encode())

# OSV advisories: one or two per distribution from tests/fixtures/osv.
for source in [
    "tests/fixtures/osv/Debian/DSA-5532-1.json", "tests/fixtures/osv/Debian/DEBIAN-CVE-2023-4641.json",
    "tests/fixtures/osv/Ubuntu/USN-6429-1.json", "tests/fixtures/osv/Ubuntu/UBUNTU-CVE-2023-5363.json",
    "tests/fixtures/osv/Alpine/ALPINE-CVE-2023-48795.json", "tests/fixtures/osv/Alpine/ALPINE-CVE-2023-5678.json",
]:
    copy("osv_advisory", pathlib.Path(source).name, source)

# Version triples (the package managers' own test tables, crates/domain/src/pkgver), then ecosystem and
# os-release names.
for i, text in enumerate([
    "1.0~rc1-1\n1.0-1\n1:0.9", "1:1.0-1.el9\n2.0-1.el9\n1.0^git1", "1.2.3_rc1-r0\n1.2.3-r0\n1.2.3_p1~abc-r1",
    "Debian:12\ndebian\n12", "Ubuntu:Pro:18.04:LTS\nubuntu\n22.04", "Alpine:v3.19\nalpine\n3.18.4",
    "Red Hat:rhel_aus:8.4::appstream\nrhel\n9.3", "1.2.07\n1.2.1\n1.2.001",
]):
    seed("pkgver_order", f"versions-{i}", text)

# List parameters: token, limit, from, until (one per line), as crates/server/src/http/pagination.rs tests them.
KEY = b"a cursor key of thirty-two bytes"
payload = b"42,0190a000-0000-7000-8000-000000000000,0011223344556677"
mac = hmac.new(KEY, payload, hashlib.sha256).digest()[:16]
token = base64.urlsafe_b64encode(payload).rstrip(b"=") + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")
for i, text in enumerate([
    b"garbage\n50\n2026-01\n2026-02", token + b"\n100\n\n", payload + b"\n1\n2026-01-31T10\n2026-01-31T11",
    b"NDIsaWQsZnA.AAAA\n0\nyesterday\n", b"\n101\n2026-02-01\n2026-01-31",
]):
    seed("pagination_token", f"query-{i}", text)


# DNS answers, built as a resolver sends them (crates/tools/tests/it/dnsserver.rs serves the same kinds).
def name(text):
    return b"".join(bytes([len(label)]) + label.encode() for label in text.split(".") if label) + b"\0"


def dns(qtype, records, rcode=0, flags=0x8180):
    header = struct.pack(">HHHHHH", 0x1234, flags | rcode, 1, len(records), 0, 0)
    question = name("example.com") + struct.pack(">HH", qtype, 1)
    answers = b"".join(b"\xc0\x0c" + struct.pack(">HHIH", rtype, 1, 300, len(rdata)) + rdata for rtype, rdata in records)
    return header + question + answers


seed("dns_message", "a", dns(1, [(1, bytes([192, 0, 2, 1])), (1, bytes([192, 0, 2, 2]))]))
seed("dns_message", "aaaa", dns(28, [(28, bytes(15) + b"\x01")]))
seed("dns_message", "mx", dns(15, [(15, struct.pack(">H", 10) + name("mail.example.com")), (15, b"\0\0\0")]))
seed("dns_message", "txt", dns(16, [(16, b"\x0dv=spf1 -all \x0amx ip4:x"), (16, b"\x08v=DMARC1")]))
seed("dns_message", "soa", dns(6, [(6, name("ns1.example.com") + b"\xc0\x0c" + struct.pack(">IiiiI", 1, 7200, 3600, -1, 300))]))
seed("dns_message", "caa", dns(257, [(257, b"\x80\x05issue" + b"ca.example")]))
seed("dns_message", "ns-cname", dns(2, [(2, name("ns1.example.net")), (5, b"\xc0\x0c")]))
seed("dns_message", "nxdomain", dns(1, [], rcode=3))
seed("dns_message", "truncated", dns(1, [], flags=0x8380))

# WHOIS answers (crates/tools/src/whois/parse.rs tests); the first byte picks the server.
seed("whois_text", "markmonitor", b"\x02" + """Domain Name: google.com
Registrar WHOIS Server: whois.markmonitor.com
Updated Date: 2019-09-09T15:39:04+0000
Creation Date: 1997-09-15T07:00:00+0000
Registrar Registration Expiration Date: 2028-09-13T07:00:00+0000
Registrar: MarkMonitor, Inc.
Registrar IANA ID: 292
Registrar Abuse Contact Email: abusecomplaints@markmonitor.com
Domain Status: clientUpdateProhibited (https://www.icann.org/epp#clientUpdateProhibited)
Registrant Organization: Google LLC
Registrant Country: US
Name Server: ns1.google.com
DNSSEC: unsigned
>>> Last update of WHOIS database: 2024-08-13T10:05:39+0000 <<<
""".encode())
seed("whois_text", "nominet", b"\x03" + b"\n    Domain name:\n        example.co.uk\n\n    Registrar:\n        Example Ltd [Tag = EXAMPLE]\n"
     b"        URL: https://www.example.test\n\n    Relevant dates:\n        Registered on: before Aug-1996\n"
     b"        Expiry date:  19-Feb-2026\n        Last updated:  17-Jan-2024\n\n    Name servers:\n        NS1.EXAMPLE.NET\n"
     b"        ns2.example.net    192.0.2.53\n\n    DNSSEC:\n        Signed\n")
seed("whois_text", "arin", b"\x00" + b"""# ARIN WHOIS data and services are subject to the Terms of Use

NetRange:       8.0.0.0 - 8.127.255.255
CIDR:           8.0.0.0/9
NetName:        LVLT-ORG-8-8

NetRange:       8.8.8.0 - 8.8.8.255
CIDR:           8.8.8.0/24, 2001:db8::/32
NetName:        GOGL
OriginAS:       AS15169
RegDate:        2014-03-14
OrgAbuseEmail:  network-abuse@google.com
ReferralServer: rwhois://rwhois.example.net:4321
""")
seed("whois_text", "ripe", b"\x01" + b"""% Abuse contact for '193.0.0.0 - 193.0.7.255' is 'abuse@ripe.net'

inetnum:        193.0.0.0 - 193.0.7.255
netname:        RIPE-NCC
country:        NL
created:        2003-03-17T12:15:57Z
last-modified:  2017-12-04T14:54:29Z
source:         RIPE-GRS
inet6num:       2001:67c:2e8::/48
aut-num:        AS3333
as-name:        RIPE-NCC-AS
""")
seed("whois_text", "jprs-dates", b"\x02" + "a. [Domain Name]                EXAMPLE.JP\n[Created on]   2001/03/22\n"
     "[Expires on]   2024/08/13 13:00:00 (JST)\nchanged: hostmaster@example.net 20040526\nexpires: 13-aug-2024\n"
     "refer: whois.nic.jp\nNo match for \"NOPE.COM\".\n".encode())


# TLS answers to the legacy probes (crates/tools/src/ssl/legacy.rs tests), with the chain of
# crates/tools/tests/fixtures/ssl. The first byte: version offered (low two bits) and chunk size.
def record(content_type, body):
    return bytes([content_type, 3, 1]) + struct.pack(">H", len(body)) + body


def handshake(kind, body):
    return bytes([kind]) + struct.pack(">I", len(body))[1:] + body


def server_hello(version):
    return handshake(2, struct.pack(">H", version) + bytes(32) + bytes([0, 0xC0, 0x13, 0]))


leaf = pem_to_der("crates/tools/tests/fixtures/ssl/leaf.pem")
intermediate = pem_to_der("crates/tools/tests/fixtures/ssl/intermediate.pem")
root = pem_to_der("crates/tools/tests/fixtures/ssl/root.pem")
certs = b"".join(struct.pack(">I", len(c))[1:] + c for c in [leaf, intermediate])
certificate = handshake(11, struct.pack(">I", len(certs))[1:] + certs)
chain = server_hello(0x0301) + certificate
seed("tls_legacy_answer", "tls10-accepted", bytes([1 | 4 * 63]) + b"".join(
    record(22, chain[i:i + 16384]) for i in range(0, len(chain), 16384)))
seed("tls_legacy_answer", "tls11-lower", bytes([2]) + record(22, server_hello(0x0301)))
seed("tls_legacy_answer", "ssl3-alert", bytes([0]) + record(21, bytes([2, 40])))
seed("tls_legacy_answer", "hello-then-done", bytes([1 | 4 * 7]) + record(22, server_hello(0x0301) + handshake(14, b"")))
seed("tls_legacy_answer", "not-tls", bytes([1]) + b"HTTP/1.1 400 Bad Request\r\n\r\n")

# Certificates (DER) of crates/tools/tests/fixtures/ssl.
seed("x509_certificate", "leaf.der", leaf)
seed("x509_certificate", "intermediate.der", intermediate)
seed("x509_certificate", "root.der", root)


# Service banners (crates/tools/src/exposure/banner.rs tests).
def mysql_packet(version):
    body = b"\x0a" + version.encode() + b"\0" + bytes(20)
    return struct.pack("<I", len(body))[:3] + b"\0" + body


for i, text in enumerate([
    b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n", b"220-FileZilla Server 0.9.60 beta\r\n220 ready\r\n",
    b"220 mx.example ESMTP Sendmail 8.15.2/8.15.2; Mon\r\n", b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n",
    b"HTTP/1.1 200 OK\r\nDate: x\r\nServer: Apache/2.4.52 (Ubuntu)\r\nX: y\r\n\r\n",
    b"$120\r\n# Server\r\nredis_version:7.2.4\r\n", b"-NOAUTH Authentication required.\r\n", b"VERSION 1.6.21\r\n",
    b"\x15\x03\x01\x00\x02\x02\x32", b"hello\x00\x01world \r\n\r\n", mysql_packet("8.0.36-0ubuntu0.22.04.1"),
    mysql_packet("5.5.5-10.6.16-MariaDB-0+deb12u1"),
    b"\x45\x00\x00\x00\xff\x6a\x04Host '10.0.0.9' is not allowed to connect to this MySQL server",
]):
    seed("service_banner", f"banner-{i}", text)

# SPF records (crates/tools/src/email/spf_record.rs tests).
for i, text in enumerate([
    "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.example.com/24//64 -ptr ~include:_spf.example.net "
    "?exists:%{i}._spf.%{d} redirect=_spf.example.org exp=explain.example.com foo=bar -all",
    "v=spf1 a/24 mx//64 A:Example.COM -ALL", "v=spf1 include:a.example redirect=b.example", "v=spf1 ?all -all",
    "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} ip4:192.0.2.1/033 +a:%{d2}.example",
    "%{d}.%{i}._spf.example.com", "v=spf10 mx",
]):
    seed("spf_record", f"spf-{i}", text)

# DMARC records (crates/tools/src/email/dmarc.rs tests).
for i, text in enumerate([
    "v=DMARC1; p=reject; rua=mailto:agg@example.com,mailto:x@example.net!10m; ruf=mailto:f@example.com; adkim=s; fo=1:d",
    "v=DMARC1; p=none; pct=150; adkim=x; fo=2; rf=iodef; ri=soon", "v=DMARC1; rua=mailto:a@example.com",
    "v=DMARC1; p=quarantine; sp=reject; np=none; psd=y; t=n; pct=50", "p=none; v=DMARC1; p=reject; garbage",
]):
    seed("dmarc_record", f"dmarc-{i}", text)

# The agent's text inventories (tests/fixtures/hosts, crates/cli/src/agent.rs tests).
copy("agent_text", "os-release-alpine", "tests/fixtures/hosts/alpine-3.18/etc/os-release")
copy("agent_text", "os-release-ubuntu", "tests/fixtures/hosts/ubuntu-22.04/etc/os-release")
copy("agent_text", "dpkg-status", "tests/fixtures/hosts/debian-12/var/lib/dpkg/status")
copy("agent_text", "apk-installed", "tests/fixtures/hosts/alpine-3.18/lib/apk/db/installed")
seed("agent_text", "proc-net-tcp", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
     "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0\n"
     "   1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 0\n"
     "   2: 00000000:0035 00000000:0000 07 0 0 0 0 0 0 0\n")
seed("agent_text", "fib-trie", "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n"
     "     +-- 10.0.0.0/24 2 0 2\n        |-- 10.0.0.0\n           /24 link UNICAST\n        |-- 10.0.0.7\n"
     "           /32 host LOCAL\n")
seed("agent_text", "if-inet6", "fe800000000000000000000000000001 02 40 20 80 eth0\n"
     "20010db8000000000000000000000001 03 40 00 80 eth0\n")


# rpm headers as rpmdb stores them (the `header` helper of crates/cli/src/agent.rs tests).
def rpm_header(entries):
    index, data = b"", b""
    for tag, kind, value in entries:
        if isinstance(value, int):
            data += bytes(-len(data) % 4)
            index += struct.pack(">IIII", tag, kind, len(data), 1)
            data += struct.pack(">I", value)
        else:
            index += struct.pack(">IIII", tag, kind, len(data), 1)
            data += value.encode() + b"\0"
    return struct.pack(">II", len(entries), len(data)) + index + data


seed("rpm_header", "openssl-libs", rpm_header([
    (1000, 6, "openssl-libs"), (1001, 6, "3.0.7"), (1002, 6, "24.el9"), (1003, 4, 1),
    (1044, 6, "openssl-3.0.7-24.el9.src.rpm")]))
seed("rpm_header", "bash", rpm_header([(1000, 6, "bash"), (1001, 6, "5.1.8"), (1002, 6, "6.el9")]))
seed("rpm_header", "gpg-pubkey", rpm_header([(1000, 6, "gpg-pubkey"), (1001, 6, "fd431d51"), (1002, 6, "4ae0493b")]))

# Berkeley DB hash databases written by Berkeley DB itself (crates/cli/tests/fixtures/rpm-bdb), one per byte order.
copy("bdb_hash", "Packages", "crates/cli/tests/fixtures/rpm-bdb/Packages")
copy("bdb_hash", "Packages.be", "crates/cli/tests/fixtures/rpm-bdb/Packages.be")
