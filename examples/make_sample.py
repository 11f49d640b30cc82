#!/usr/bin/env python3
"""Build the embedded sample of OONI's S3 bucket layout (examples/bucket/).

Python 3.11+, standard library only.  The output is a deterministic function of
the real fixtures in tests/fixtures/ooni-real/*.json and of the constants in this
file: gzip headers carry mtime=0 and no file name, tar members carry fixed
metadata, every "random" choice comes from SHA-256 of a descriptive string.

    python3 examples/make_sample.py            # (re)write examples/bucket + manifest
    python3 examples/make_sample.py --check    # regenerate in a temp dir and diff

What is written (see examples/README.md for the long version):

* every real fixture exactly once as a measurement, compacted to one line with
  json.dumps(obj, separators=(",", ":"), ensure_ascii=False);
* a SYNTHETIC Azerbaijan-2020-like scenario (WhatsApp / Telegram / Web
  Connectivity, five ASNs, a TLS/SNI blocking window), built from real fixture
  templates and labelled synthetic inside every measurement;
* examples/sample-manifest.json: one entry per measurement occurrence.

Identifiers, computed independently of the pipeline:

* measurement_uid (raw/ postcans, the .post member name without ".post"):
      f"{recv:%Y%m%d%H%M%S.%f}_{CC}_{tn}_{sha512(post_bytes).hexdigest()[:16]}"
  where post_bytes are the exact bytes of the .post member and recv is the
  (synthetic, deterministic) time the API received the POST.

* trivial_id (every *.jsonl.gz line), as oonidata's datautils.trivial_id and
  the fastpath's utils.trivial_id compute it:
      "01"
      + YYYYMMDD of measurement_start_time ("%Y-%m-%d %H:%M:%S"), or
        "00000000" when the field is missing/empty/unparsable (e.g. "{}")
      + hashlib.shake_128(raw_line_bytes).hexdigest(15)
  raw_line_bytes is the line exactly as stored in the decompressed file,
  INCLUDING its trailing b"\\n" (what Python yields when iterating a
  GzipFile).  15 bytes of SHAKE-128 = 30 hex chars, so the id is 40 chars.
"""

from __future__ import annotations

import argparse
import datetime as dt
import filecmp
import gzip
import hashlib
import io
import json
import math
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURE_DIR = REPO / "tests" / "fixtures" / "ooni-real"
DEFAULT_BUCKET = HERE / "bucket"
DEFAULT_MANIFEST = HERE / "sample-manifest.json"

SYNTH_LABEL = "ooni-pipeline sample: not a real measurement"

# ---------------------------------------------------------------------------
# Layout constants (see docs/ooni-data-source.md §1)
# ---------------------------------------------------------------------------
RAW_FIRST_DAY = dt.date(2020, 10, 20)  # raw/ exists for bucket days >= this
JSONL_LAST_DAY = dt.date(2020, 10, 20)  # jsonl/ exists for bucket days <= this
POSTCAN_GZIP_FROM = dt.date(2022, 8, 2)  # postcans are gzip'ed from this bucket day
MISSING_TIME_BUCKET = dt.datetime(2020, 10, 21, 0, 0, 0)  # fixtures w/o measurement_start_time
UNKNOWN_CC = "ZZ"
UNKNOWN_TN = "unknown"
COLLECTOR = "n0"
AZ_CAN_CAP = 3  # max measurements per synthetic AZ postcan: a stand-in for the 20 MB rule, creates .n0.1 cans

# ---------------------------------------------------------------------------
# Synthetic scenario constants
# ---------------------------------------------------------------------------
BLOCK_FIRST = dt.date(2020, 9, 27)
BLOCK_LAST = dt.date(2020, 11, 10)


def _days(a: str, b: str) -> list[dt.date]:
    d0, d1 = dt.date.fromisoformat(a), dt.date.fromisoformat(b)
    return [d0 + dt.timedelta(days=i) for i in range((d1 - d0).days + 1)]


SYNTH_DAYS = (
    _days("2020-09-24", "2020-09-26")  # before the window
    + _days("2020-09-27", "2020-09-29")  # start of the window
    + _days("2020-10-19", "2020-10-22")  # jsonl/ -> raw/ layout overlap
    + _days("2020-11-09", "2020-11-12")  # end of the window
)

# ASN, probe_network_name (illustrative labels), resolver_ip (TEST-NET-2, i.e.
# deliberately not a real resolver), web.whatsapp.com / v.whatsapp.net address
# seen from that network (Facebook, AS32934).
AZ_ASNS = [
    (28787, "Baktelecom LLC", "198.51.100.11", "157.240.9.53"),
    (29049, "Delta Telecom Ltd", "198.51.100.12", "157.240.9.53"),
    (34170, "AzerTelecom LLC", "198.51.100.13", "157.240.20.53"),
    (39232, "Uninet LLC", "198.51.100.14", "157.240.20.53"),
    (57293, "Azeronline LLC", "198.51.100.15", "31.13.81.53"),
]

# Social media (OONI: "social media from early October"): web_connectivity of
# these URLs on SOCIAL_DAYS, one websites-suite run per (day, ASN), blocked like
# web.whatsapp.com (TLS SNI filtering) from SOCIAL_FIRST to BLOCK_LAST on
# SOCIAL_BLOCKED_ASNS only.  url -> (ip seen by the probe, ip seen by the control, asn org, title)
SOCIAL_URLS = {
    "https://www.facebook.com/": ("157.240.9.35", "157.240.229.35", (32934, "Facebook, Inc."), "Facebook"),
    "https://www.instagram.com/": ("157.240.9.174", "157.240.229.174", (32934, "Facebook, Inc."), "Instagram"),
    "https://www.youtube.com/": ("172.217.17.238", "142.250.64.110", (15169, "Google LLC"), "YouTube"),
}
SOCIAL_FIRST = dt.date(2020, 10, 4)
SOCIAL_BLOCKED_ASNS = [28787, 34170, 39232]
SOCIAL_DAYS = _days("2020-10-01", "2020-10-06")  # 3 days before the onset, 3 from it (all jsonl/ days)

SLOT_HOURS = [5, 11, 17]  # UTC hours in which synthetic probe runs start

# (measurement day, asn, run index or -1 for the last run) -> upload delay in days
LATE_UPLOADS = {
    ("2020-09-26", 28787, -1): 1,  # not blocked, but lands in a bucket day inside the window
    ("2020-10-19", 29049, -1): 1,  # measured 10-19, uploaded 10-20: jsonl/ AND raw/
    ("2020-10-21", 34170, 0): 1,
    ("2020-11-10", 39232, 0): 1,  # blocked, uploaded on an unblocked bucket day
    ("2020-11-10", 57293, 0): 2,  # D+2
    ("2020-11-12", 28787, -1): 1,  # bucket day 2020-11-13 holds only late uploads
}

# jsonl/ traps
JSONL_X_DUPLICATES = [  # (tn, cc, bucket day): also write a .x.<hash> copy
    ("whatsapp", "AZ", "20200928"),
    ("whatsapp", "IT", "20200709"),  # the fixture, mirrors ooni/backend#613
]
JSONL_SPLIT = [("webconnectivity", "AZ", "20200928")]  # split into .l.0 and .l.1

# The {} placeholder / yaml post goes into the first raw AZ whatsapp can of this day
YAML_POST_DAY = dt.date(2020, 10, 21)

FAILURE_TIMEOUT = "generic_timeout_error"
FAILURE_RESET = "connection_reset"

# ---------------------------------------------------------------------------
# Deterministic helpers
# ---------------------------------------------------------------------------


def H(*parts) -> int:
    s = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(s).digest()[:8], "big")


def U(*parts) -> float:
    return H(*parts) / 2.0**64


def between(lo: float, hi: float, *parts) -> float:
    return lo + (hi - lo) * U(*parts)


B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b62(n: int, *parts) -> str:
    out, i = [], 0
    while len(out) < n:
        digest = hashlib.sha256(("\x1f".join(map(str, parts)) + f"#{i}").encode()).digest()
        out.extend(B62[b % 62] for b in digest)
        i += 1
    return "".join(out[:n])


def compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def fmt_time(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


_WD = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_MO = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def http_date(t: dt.datetime) -> str:
    return f"{_WD[t.weekday()]}, {t.day:02d} {_MO[t.month - 1]} {t.year} {t:%H:%M:%S} GMT"


def tn_of(test_name) -> str:
    if not isinstance(test_name, str) or not test_name:
        return UNKNOWN_TN
    return test_name.replace("_", "")


def cc_of(probe_cc) -> str:
    if not isinstance(probe_cc, str) or not probe_cc or probe_cc.upper() == "ZZ":
        return UNKNOWN_CC
    return probe_cc.upper()


def parse_mst(value):
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def trivial_id(raw_line: bytes, msm) -> str:
    # OONI's trivial_id (oonidata datautils.trivial_id == fastpath utils.trivial_id):
    #   "01" + strptime(measurement_start_time, "%Y-%m-%d %H:%M:%S").strftime("%Y%m%d")
    #        (or "00000000" if missing / not parseable, e.g. for the "{}" placeholder)
    #   + hashlib.shake_128(raw_line).hexdigest(15)      -> 2 + 8 + 30 = 40 chars
    # raw_line is the line exactly as stored, INCLUDING its trailing b"\n".
    ts = "00000000"
    if isinstance(msm, dict):
        t = parse_mst(msm.get("measurement_start_time"))
        if t is not None:
            ts = t.strftime("%Y%m%d")
    return "01" + ts + hashlib.shake_128(raw_line).hexdigest(15)


def measurement_uid(recv: dt.datetime, cc: str, tn: str, post_bytes: bytes) -> str:
    return f"{recv:%Y%m%d%H%M%S.%f}_{cc}_{tn}_{hashlib.sha512(post_bytes).hexdigest()[:16]}"


def identity_of(msm) -> dict:
    if not isinstance(msm, dict):
        msm = {}
    return {
        "report_id": msm.get("report_id"),
        "test_name": msm.get("test_name"),
        "input": msm.get("input"),
        "measurement_start_time": msm.get("measurement_start_time"),
    }


# ---------------------------------------------------------------------------
# Deterministic containers
# ---------------------------------------------------------------------------


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def tar_bytes(members: list[tuple[str, bytes, int]]) -> bytes:
    """members: (name, data, mtime), written in the given order.

    GNU-format headers (long names use ././@LongLink), each member padded to a
    512-byte block, terminated by two zero blocks.  Unlike Python's tarfile and
    GNU tar we do NOT pad the archive to a 10240-byte record: readers do not
    need it and it would more than double the size of the small plain tars."""
    out = bytearray()
    for name, data, mtime in members:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        ti.mtime = mtime
        ti.mode = 0o644
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        ti.type = tarfile.REGTYPE
        out += ti.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
        out += data
        out += b"\0" * (-len(data) % tarfile.BLOCKSIZE)
    out += b"\0" * (2 * tarfile.BLOCKSIZE)
    return bytes(out)


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


def load_fixtures() -> list[dict]:
    files = sorted(p for p in FIXTURE_DIR.glob("*.json"))
    if not files:
        sys.exit(f"no fixtures in {FIXTURE_DIR}")
    out = []
    for p in files:
        obj = json.loads(p.read_bytes())
        line = compact(obj)
        out.append({"file": p.name, "obj": obj, "line": line})
    return out


def template(name: str) -> dict:
    return json.loads((FIXTURE_DIR / name).read_bytes())


# ---------------------------------------------------------------------------
# Synthetic measurements: legacy netx ("urlgetter") tracer, probe-engine 0.15-0.20
# ---------------------------------------------------------------------------

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/83.0.4103.61 Safari/537.36"
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT_LANG = "en-US;q=0.8,en;q=0.5"

FB = (32934, "Facebook, Inc.")
AMZ = (14618, "Amazon.com, Inc.")
TG = (62041, "Telegram Messenger Inc")
WMF = (14907, "Wikimedia Foundation Inc.")

WA_EN_IPS = ["34.194.71.217", "34.192.181.12", "34.194.255.230", "34.193.38.112"]
TG_WEB_IP = "149.154.167.99"
TG_DCS = ["149.154.175.50", "149.154.167.51", "149.154.175.100", "149.154.167.91", "149.154.171.5"]
WIKI_IP = "91.198.174.192"


class TL:
    """Monotonic timeline (seconds since measurement_start_time)."""

    def __init__(self, seed: str, start: float = 0.0):
        self.seed, self.t, self.n = seed, start, 0

    def step(self, lo: float, hi: float) -> float:
        self.n += 1
        self.t += between(lo, hi, self.seed, self.n)
        return round(self.t, 9)


class Trace:
    def __init__(self):
        self.network_events: list = []
        self.queries: list = []
        self.requests: list = []
        self.tcp_connect: list = []
        self.tls_handshakes: list = []

    def urlgetter_keys(self) -> dict:
        """The test keys every urlgetter-based test (whatsapp, telegram) writes, in its order."""
        return {
            "agent": "redirect",
            "failed_operation": None,
            "failure": None,
            "network_events": self.network_events,
            "queries": self.queries,
            "requests": self.requests,
            "tcp_connect": self.tcp_connect,
            "tls_handshakes": self.tls_handshakes,
        }

    def ev(self, op, t, failure=None, address=None, num_bytes=None, proto=None):
        e = {}
        if address is not None:
            e["address"] = address
        e["failure"] = failure
        if num_bytes is not None:
            e["num_bytes"] = num_bytes
        e["operation"] = op
        if proto is not None:
            e["proto"] = proto
        e["t"] = t
        self.network_events.append(e)

    # -- DNS (system resolver, legacy A/AAAA split) ---------------------------
    def lookup(self, tl: TL, host: str, answers: list, failure=None) -> float:
        self.ev("resolve_start", tl.step(0.0001, 0.0008))
        t = tl.step(0.004, 0.06) if failure is None else tl.step(5.0, 5.2)
        self.ev("resolve_done", t, failure=failure)
        for qtype in ("A", "AAAA"):
            ans = [a for a in answers if (":" in a[0]) == (qtype == "AAAA")]
            if not ans and failure is None:
                continue  # the legacy tracer skips an empty family on success
            entries = None
            if failure is None:
                entries = []
                for ip, (asn, org) in ans:
                    a = {"asn": asn, "as_org_name": org, "answer_type": qtype}
                    a["ipv6" if qtype == "AAAA" else "ipv4"] = ip
                    a["ttl"] = None
                    entries.append(a)
            self.queries.append(
                {
                    "answers": entries,
                    "engine": "system",
                    "failure": failure,
                    "hostname": host,
                    "query_type": qtype,
                    "resolver_hostname": None,
                    "resolver_port": None,
                    "resolver_address": "",
                    "t": t,
                }
            )
        return t

    def connect(self, tl: TL, ip: str, port: int, failure=None) -> float:
        t = tl.step(0.015, 0.09)
        addr = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        self.ev("connect", t, failure=failure, address=addr, proto="tcp")
        self.tcp_connect.append(
            {"ip": ip, "port": port, "status": {"failure": failure, "success": failure is None}, "t": t}
        )
        return t

    def tls(self, tl: TL, sni: str, failure, certs, params, hello: int) -> None:
        self.ev("tls_handshake_start", tl.step(0.00002, 0.00006))
        self.ev("write", tl.step(0.0002, 0.0005), num_bytes=hello)
        if failure is None:
            for n in (517, 1800, 747):
                self.ev("read", tl.step(0.0003, 0.025), num_bytes=n)
            self.ev("write", tl.step(0.001, 0.003), num_bytes=64)
        elif failure == FAILURE_TIMEOUT:
            self.ev("read", tl.step(10.0, 10.002), failure=failure)  # 10 s TLS handshake timeout
        else:
            self.ev("read", tl.step(0.02, 0.09), failure=failure)
        t = tl.step(0.00002, 0.0001)
        self.ev("tls_handshake_done", t, failure=failure)
        ok = failure is None
        self.tls_handshakes.append(
            {
                "cipher_suite": params["cipher_suite"] if ok else "",
                "failure": failure,
                "negotiated_protocol": params["negotiated_protocol"] if ok else "",
                "no_tls_verify": False,
                "peer_certificates": certs if ok else None,
                "server_name": sni,
                "t": t,
                "tls_version": params["tls_version"] if ok else "",
            }
        )


def hdrs(pairs):
    return [[k, v] for k, v in pairs], {k: v for k, v in sorted(pairs)}


def request_entry(t, url, method, req_pairs, failure, resp):
    hl, hm = hdrs(req_pairs)
    if resp is None:
        response = {"body": "", "body_is_truncated": False, "code": 0, "headers_list": None, "headers": None}
    else:
        code, resp_pairs, body = resp
        rl, rm = hdrs(resp_pairs)
        response = {"body": body, "body_is_truncated": False, "code": code, "headers_list": rl, "headers": rm}
    return {
        "failure": failure,
        "request": {
            "body": "",
            "body_is_truncated": False,
            "headers_list": hl,
            "headers": hm,
            "method": method,
            "tor": {"exit_ip": None, "exit_name": None, "is_tor": False},
            "url": url,
        },
        "response": response,
        "t": t,
    }


def http_tx(
    tr: Trace,
    tl: TL,
    url: str,
    method: str,
    host_hdr: str,
    ip: str,
    port: int,
    resp,
    *,
    dns=None,
    tls=None,
    referer=None,
) -> tuple[dict, str | None]:
    """One HTTP transaction on a fresh connection.

    dns: (hostname, answers) or None for IP literals.
    tls: None for cleartext, else dict(sni, failure, certs, params, hello).
    resp: (code, header pairs, body) used when nothing fails.
    Returns (request entry, failure)."""
    t0 = tl.step(0.0002, 0.002)
    tr.ev("http_transaction_start", t0)
    tr.ev("http_request_metadata", tl.step(0.000005, 0.00002))
    if dns is not None:
        tr.lookup(tl, dns[0], dns[1])
    tr.connect(tl, ip, port)
    failure = None
    if tls is not None:
        tr.tls(tl, tls["sni"], tls["failure"], tls["certs"], tls["params"], tls["hello"])
        failure = tls["failure"]
        if failure is None:
            tr.ev("write", tl.step(0.0001, 0.0004), num_bytes=86)
    req_pairs = [("Accept", ACCEPT), ("Accept-Language", ACCEPT_LANG)]
    if referer:
        req_pairs.append(("Referer", referer))
    req_pairs += [("User-Agent", UA), ("Host", host_hdr)]
    if failure is None:
        tr.ev("write", tl.step(0.0001, 0.001), num_bytes=180 + len(url) + len(host_hdr))
        tr.ev("http_wrote_headers", tl.step(0.000002, 0.00001))
        tr.ev("http_wrote_request", tl.step(0.000001, 0.000003))
        tr.ev("read", tl.step(0.02, 0.3), num_bytes=120 + len(resp[2]) + 30 * len(resp[1]))
        tr.ev("http_first_response_byte", tl.step(0.0001, 0.0002))
        tr.ev("http_response_metadata", tl.step(0.0001, 0.0002))
        tr.ev("http_response_body_snapshot", tl.step(0.00001, 0.00003))
        tr.ev("http_transaction_done", tl.step(0.000001, 0.000002))
        if tls is not None:
            tr.ev("write", tl.step(0.0001, 0.0002), num_bytes=24)
        return request_entry(t0, url, method, req_pairs, None, resp), None
    tr.ev("http_transaction_done", tl.step(0.00001, 0.0001), failure=failure)
    return request_entry(t0, url, method, req_pairs, failure, None), failure


class Templates:
    def __init__(self):
        wa = template("whatsapp__IT-20200709-v0.8.0-spec-ts-018-rev20210820__ooni-spec.json")
        tk = wa["test_keys"]
        h = tk["tls_handshakes"][0]
        self.wa_certs = h["peer_certificates"]
        self.wa_tls = {k: h[k] for k in ("cipher_suite", "negotiated_protocol", "tls_version")}
        by_url = {r["request"]["url"]: r for r in tk["requests"]}
        self.wa_register_body = by_url["https://v.whatsapp.net/v2/register"]["response"]["body"]
        self.wa_extensions = wa["extensions"]
        self.wa_assets = wa["annotations"]["assets_version"]

        tg = template("telegram__RU-20221109-v0.2.0-explorer-msmtmeta-cd8ea566__ooni-explorer.json")
        tk = tg["test_keys"]
        h = tk["tls_handshakes"][0]
        self.tg_certs = h["peer_certificates"][:2]  # leaf + intermediate only, to keep the sample small
        self.tg_tls = {k: h[k] for k in ("cipher_suite", "negotiated_protocol", "tls_version")}
        self.tg_dc = {}
        for r in tk["requests"]:
            u = r["request"]["url"]
            if r["request"]["method"] == "POST":
                self.tg_dc[u] = (r["response"]["code"], r["response"]["body"], [k for k, _ in r["response"]["headers_list"]])

        sk = template("web_connectivity__SK-20210120-v0.1.0-requests_none__ooni-backend.json")
        self.wc_test_helpers = sk["test_helpers"]


WA_ERROR_BODY = (
    '<!DOCTYPE html><html lang="en" id="facebook"><head><title>Error</title><meta charset="utf-8" /></head>'
    "<body><h1>Sorry, something went wrong.</h1><p>We&#039;re working on getting this fixed as soon as we can.</p></body></html>"
)
WA_WEB_BODY = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>WhatsApp Web</title></head>'
    '<body><div id="app"></div><script src="/app.js"></script></body></html>'
)
TG_WEB_BODY = (
    '<!doctype html><html lang=en manifest=webogram.appcache ng-csp xmlns:ng=http://angularjs.org id=ng-app '
    'style="display: none;"><head><meta charset=utf-8><title>Telegram Web</title></head>'
    "<body><div class=page_wrap ng-view></div><script src=js/app.js></script></body></html>"
)
TG_301_BODY = (
    "<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body bgcolor=\"white\">\r\n"
    "<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>nginx/1.16.1</center>\r\n</body>\r\n</html>\r\n"
)
WIKI_BODY = (
    '<!DOCTYPE html><html lang="en" class="no-js"><head><meta charset="utf-8"><title>Wikipedia</title></head>'
    '<body id="www-wikipedia-org"><h1 class="central-textlogo-wrapper">Wikipedia</h1></body></html>'
)


def software_for(day: dt.date, asn: int, run: int):
    android = H("sw", day, asn, run) % 3 != 0
    if day < dt.date(2020, 10, 6):
        eng = "0.17.0" if android else "0.16.0"  # Go web_connectivity exists from engine v0.16.0
        ver = "2.6.0" if android else "3.0.4"
    elif day < dt.date(2020, 10, 23):
        eng = "0.18.0"
        ver = "2.7.0" if android else "3.0.6"
    elif day < dt.date(2020, 11, 12):
        eng = "0.19.0"
        ver = "2.8.0" if android else "3.0.7"
    else:
        eng = "0.20.0"
        ver = "2.8.1" if android else "3.1.0"
    if android:
        return "ooniprobe-android", ver, eng, "android"
    return "ooniprobe-desktop", ver, eng, ["macos", "windows", "linux"][H("plat", asn, run) % 3]


def report_id(start: dt.datetime, asn: int, *seed) -> str:
    return f"{start:%Y%m%dT%H%M%SZ}_AS{asn}_SYNTH" + b62(45, "rid", *seed)


def envelope(
    *, test_name, test_version, mst, tst, rid, asn, net, resolver_ip, sw, inp, test_keys, runtime, extensions, assets,
    test_helpers=None
):
    name, ver, eng, plat = sw
    m = {
        "annotations": {
            "assets_version": assets,
            "engine_name": "ooniprobe-engine",
            "engine_version": eng,
            "platform": plat,
            "synthetic": SYNTH_LABEL,
        },
        "data_format_version": "0.2.0",
    }
    if extensions is not None:
        m["extensions"] = dict(extensions)
    m.update(
        {
            "input": inp,
            "measurement_start_time": fmt_time(mst),
            "probe_asn": f"AS{asn}",
            "probe_cc": "AZ",
            "probe_ip": "127.0.0.1",
            "probe_network_name": net,
            "report_id": rid,
            "resolver_asn": f"AS{asn}",
            "resolver_ip": resolver_ip,
            "resolver_network_name": net,
            "software_name": name,
            "software_version": ver,
        }
    )
    if test_helpers is not None:
        m["test_helpers"] = test_helpers
    m.update(
        {
            "test_keys": test_keys,
            "test_name": test_name,
            "test_runtime": round(runtime, 9),
            "test_start_time": fmt_time(tst),
            "test_version": test_version,
        }
    )
    return m


def outcome(domain, dns="ok", tcp="ok", tls="ok", http="ok", https="ok", failure=None, first="ok"):
    return {
        "domain": domain,
        "dns": dns,
        "tcp": tcp,
        "tls": tls,
        "http": http,
        "https": https,
        "failure": failure,
        "first_failing": first,
    }


def make_whatsapp(T: Templates, ctx: dict, mst: dt.datetime, blocked: bool, failure: str | None):
    seed = ctx["seed"] + "/wa"
    tr, tl = Trace(), TL(seed)
    fb_ip = ctx["fb_ip"]
    tls_fail = failure if blocked else None
    inputs = [("en", i, p) for i in range(1, 17) for p in (443, 5222)]
    inputs += [("register",), ("https",), ("http",)]
    inputs.sort(key=lambda x: H(seed, "order", *x))  # the experiment shuffles its inputs
    dns_fail = None
    if H(seed, "dnsfail") % 9 == 0:  # occasional transient resolver timeout for one eN lookup
        dns_fail = inputs[H(seed, "dnsfail-which") % len(inputs)]
        if dns_fail[0] != "en":
            dns_fail = None
    register_failure = https_failure = http_failure = None
    reqs = []
    for inp in inputs:
        if inp[0] == "en":
            host = f"e{inp[1]}.whatsapp.net"
            k = H(seed, host) % 4
            ans = [(WA_EN_IPS[k], AMZ)]
            if inp == dns_fail:
                tr.lookup(tl, host, ans, failure=FAILURE_TIMEOUT)
                continue
            tr.lookup(tl, host, ans)
            tr.connect(tl, ans[0][0], inp[2])
        elif inp[0] == "register":
            resp = (
                200,
                [("Content-Length", str(len(T.wa_register_body))), ("Content-Type", "text/json ; charset=utf-8"),
                 ("Date", http_date(mst)), ("Server", "Yaws 2.0.6")],
                T.wa_register_body,
            )
            entry, register_failure = http_tx(
                tr, tl, "https://v.whatsapp.net/v2/register", "GET", "v.whatsapp.net", fb_ip, 443, resp,
                dns=("v.whatsapp.net", [(fb_ip, FB)]),
                tls=dict(sni="v.whatsapp.net", failure=tls_fail, certs=T.wa_certs, params=T.wa_tls, hello=284),
            )
            reqs.append([entry])
        elif inp[0] == "https":
            resp = (
                400,
                [("Content-Length", str(len(WA_ERROR_BODY))), ("Content-Type", 'text/html; charset="utf-8"'),
                 ("Date", http_date(mst)), ("Strict-Transport-Security", "max-age=31536000; preload; includeSubDomains"),
                 ("Vary", "Accept-Encoding")],
                WA_ERROR_BODY,
            )
            entry, https_failure = http_tx(
                tr, tl, "https://web.whatsapp.com/", "GET", "web.whatsapp.com", fb_ip, 443, resp,
                dns=("web.whatsapp.com", [(fb_ip, FB)]),
                tls=dict(sni="web.whatsapp.com", failure=tls_fail, certs=T.wa_certs, params=T.wa_tls, hello=286),
            )
            reqs.append([entry])
        else:
            resp = (
                302,
                [("Location", "https://web.whatsapp.com/"), ("Content-Type", "text/plain"), ("Server", "proxygen-bolt"),
                 ("Date", http_date(mst)), ("Connection", "keep-alive"), ("Content-Length", "0")],
                "",
            )
            entry, http_failure = http_tx(
                tr, tl, "http://web.whatsapp.com/", "GET", "web.whatsapp.com", fb_ip, 80, resp,
                dns=("web.whatsapp.com", [(fb_ip, FB)]),
            )
            reqs.append([entry])
    for group in reqs:
        tr.requests.extend(reversed(group))
    web_failure = https_failure if https_failure is not None else http_failure
    test_keys = {
        **tr.urlgetter_keys(),
        "registration_server_failure": register_failure,
        "registration_server_status": "ok" if register_failure is None else "blocked",
        "whatsapp_endpoints_blocked": [],
        "whatsapp_endpoints_dns_inconsistent": [],
        "whatsapp_endpoints_status": "ok",
        "whatsapp_web_failure": web_failure,
        "whatsapp_web_status": "ok" if web_failure is None else "blocked",
    }
    runtime = tl.t + between(0.0005, 0.002, seed, "rt")
    if blocked:
        exp = outcome("web.whatsapp.com", tls="fail", https="not_reached", failure=failure, first=f"tls.{failure}")
        exp2 = [outcome("v.whatsapp.net", tls="fail", http=None, https="not_reached", failure=failure, first=f"tls.{failure}")]
    else:
        exp = outcome("web.whatsapp.com")
        exp2 = [outcome("v.whatsapp.net", http=None)]
    return test_keys, runtime, exp, exp2


def make_telegram(T: Templates, ctx: dict, mst: dt.datetime, blocked: bool):
    seed = ctx["seed"] + "/tg"
    tr, tl = Trace(), TL(seed)
    tls_fail = FAILURE_TIMEOUT if blocked else None
    web_failure = None
    groups = []
    for suffix in ("", ":443"):
        for ip in TG_DCS:
            url = f"http://{ip}{suffix}/"
            code, body, names = T.tg_dc.get(url, (404, "", ["Content-Length", "Content-Type", "Date", "Server"]))
            vals = {"Connection": "keep-alive", "Content-Length": str(len(body)), "Content-Type": "text/html",
                    "Date": http_date(mst), "Server": "nginx/0.3.33"}
            resp = (code, [(n, vals[n]) for n in names], body)
            entry, _ = http_tx(tr, tl, url, "POST", f"{ip}{suffix}", ip, 443 if suffix else 80, resp)
            groups.append([entry])
    https_resp = (
        200,
        [("Accept-Ranges", "bytes"), ("Cache-Control", "max-age=3600"), ("Content-Length", str(len(TG_WEB_BODY))),
         ("Content-Type", "text/html"), ("Date", http_date(mst)), ("Server", "nginx/1.16.1"), ("X-Frame-Options", "deny")],
        TG_WEB_BODY,
    )
    tls_cfg = dict(sni="web.telegram.org", failure=tls_fail, certs=T.tg_certs, params=T.tg_tls, hello=286)
    # http://web.telegram.org/ (FailOnHTTPError, follows the 301 to https)
    chain = []
    resp301 = (
        301,
        [("Connection", "keep-alive"), ("Content-Length", str(len(TG_301_BODY))), ("Content-Type", "text/html"),
         ("Date", http_date(mst)), ("Location", "https://web.telegram.org/"), ("Server", "nginx/1.16.1")],
        TG_301_BODY,
    )
    e1, _ = http_tx(tr, tl, "http://web.telegram.org/", "GET", "web.telegram.org", TG_WEB_IP, 80, resp301,
                    dns=("web.telegram.org", [(TG_WEB_IP, TG)]))
    chain.append(e1)
    e2, f2 = http_tx(tr, tl, "https://web.telegram.org/", "GET", "web.telegram.org", TG_WEB_IP, 443, https_resp,
                     dns=("web.telegram.org", [(TG_WEB_IP, TG)]), tls=tls_cfg, referer="http://web.telegram.org/")
    chain.append(e2)
    groups.append(chain)
    web_failure = web_failure or f2
    # https://web.telegram.org/
    e3, f3 = http_tx(tr, tl, "https://web.telegram.org/", "GET", "web.telegram.org", TG_WEB_IP, 443, https_resp,
                     dns=("web.telegram.org", [(TG_WEB_IP, TG)]), tls=tls_cfg)
    groups.append([e3])
    web_failure = web_failure or f3
    for g in groups:
        tr.requests.extend(reversed(g))  # urlgetter lists the last request first
    test_keys = {
        **tr.urlgetter_keys(),
        "telegram_http_blocking": False,
        "telegram_tcp_blocking": False,
        "telegram_web_failure": web_failure,
        "telegram_web_status": "ok" if web_failure is None else "blocked",
    }
    runtime = tl.t + between(0.0005, 0.002, seed, "rt")
    if blocked:
        exp = outcome("web.telegram.org", tls="fail", https="not_reached", failure=FAILURE_TIMEOUT,
                      first=f"tls.{FAILURE_TIMEOUT}")
    else:
        exp = outcome("web.telegram.org")
    return test_keys, runtime, exp, []


def make_webconnectivity(ctx: dict, url: str, mst: dt.datetime, failure: str | None):
    """Go engine web_connectivity 0.1.0: no network_events, no tls_handshakes.

    TLS interference shows as a failed https request after a successful TCP
    connect (the engine's TLS connect check is not archived)."""
    seed = ctx["seed"] + "/wc/" + url
    tl = TL(seed)
    host = url.split("/")[2]
    if host == "web.whatsapp.com":
        ip, asn_org, ctrl_ip, body, title = ctx["fb_ip"], FB, "157.240.229.60", WA_WEB_BODY, "WhatsApp Web"
        resp_pairs = [("Cache-Control", "no-cache"), ("Content-Length", str(len(WA_WEB_BODY))),
                      ("Content-Type", "text/html; charset=utf-8"), ("Date", http_date(mst)),
                      ("Strict-Transport-Security", "max-age=31536000; preload; includeSubDomains")]
    elif url in SOCIAL_URLS:
        ip, ctrl_ip, asn_org, title = SOCIAL_URLS[url]
        body = f"<!DOCTYPE html><html><head><title>{title}</title></head><body>{title} (synthetic stub)</body></html>"
        resp_pairs = [("Cache-Control", "private, no-cache"), ("Content-Length", str(len(body))),
                      ("Content-Type", "text/html; charset=utf-8"), ("Date", http_date(mst)),
                      ("Strict-Transport-Security", "max-age=15552000; preload")]
    else:
        ip, asn_org, ctrl_ip, body, title = WIKI_IP, WMF, "208.80.154.224", WIKI_BODY, "Wikipedia"
        resp_pairs = [("Content-Length", str(len(WIKI_BODY))), ("Content-Type", "text/html"),
                      ("Date", http_date(mst)), ("Server", "ATS/8.0.8")]
    tr = Trace()
    tl.step(0.001, 0.003)
    tr.lookup(tl, host, [(ip, asn_org)])
    tr.network_events = []  # not archived by web_connectivity 0.1.0
    t_conn = tl.step(0.02, 0.08)
    tcp = [{"ip": ip, "port": 443, "status": {"blocked": False, "failure": None, "success": True}, "t": t_conn}]
    t_req = tl.step(0.05, 0.2)
    if failure is None:
        req = request_entry(t_req, url, "GET", [("Accept", ACCEPT), ("Accept-Language", ACCEPT_LANG),
                                                 ("User-Agent", UA), ("Host", host)], None, (200, resp_pairs, body))
        tl.step(0.1, 0.4)
    else:
        req = request_entry(t_req, url, "GET", [("Accept", ACCEPT), ("Accept-Language", ACCEPT_LANG),
                                                 ("User-Agent", UA), ("Host", host)], failure, None)
        tl.step(10.0, 10.01) if failure == FAILURE_TIMEOUT else tl.step(0.05, 0.1)
    ok = failure is None
    x_status = 1 if ok else (8192 | (512 if failure == FAILURE_TIMEOUT else 256))
    test_keys = {
        "agent": "redirect",
        "client_resolver": ctx["resolver_ip"],
        "retries": None,
        "socksproxy": None,
        "queries": tr.queries,
        "dns_experiment_failure": None,
        "dns_consistency": "consistent",
        "control_failure": None,
        "control": {
            "tcp_connect": {f"{ip}:443": {"status": True, "failure": None}},
            "http_request": {
                "body_length": len(body),
                "failure": None,
                "title": title,
                "headers": {k: v for k, v in resp_pairs if k != "Date"},
                "status_code": 200,
            },
            "dns": {"failure": None, "addrs": [ctrl_ip]},
        },
        "tcp_connect": tcp,
        "requests": [req],
        "http_experiment_failure": failure,
        "body_length_match": True if ok else None,
        "body_proportion": 1 if ok else 0,
        "status_code_match": True if ok else None,
        "headers_match": True if ok else None,
        "title_match": True if ok else None,
        "accessible": ok,
        "blocking": False if ok else "http-failure",
        "x_status": x_status,
    }
    runtime = tl.t + between(0.001, 0.01, seed, "rt")
    if ok:
        exp = outcome(host, tls=None, http=None)
    else:
        exp = outcome(host, tls=None, http=None, https="fail", failure=failure, first=f"https.{failure}")
    return test_keys, runtime, exp, []


def runs_for(day: dt.date, asn: int) -> int:
    h = H("runs", day, asn) % 10
    return 3 if h == 0 else (1 if h in (1, 2, 3) else 2)


def schedule(day: dt.date, asn_index: int, asn: int) -> tuple[int, set, set, set]:
    """(number of probe runs, runs with whatsapp, runs with telegram, runs with
    the control site) for one (day, ASN).

    Days measured before 2020-10-20 (jsonl/ only, gzip'ed) get 1-3 runs with
    every test.  Days from 2020-10-20 land in raw/, whose 2020 postcans are
    UNCOMPRESSED tar, so to keep the sample small they get one run per ASN:
    web_connectivity for every ASN, whatsapp for three of the five ASNs,
    telegram for one and the control site for two (rotating by day)."""
    if day < RAW_FIRST_DAY:
        n = runs_for(day, asn)
        return n, set(range(n)), set(range(n)), {0}
    o = day.toordinal()
    if day > BLOCK_LAST:
        # after the window every ASN runs whatsapp and telegram, so that the end of
        # the block is visible on each network (issue 10)
        return 1, {0}, {0}, {0} if asn_index in {(o + 2) % 5, (o + 4) % 5} else set()
    wa = {0} if asn_index in {o % 5, (o + 1) % 5, (o + 3) % 5} else set()
    tg = {0} if asn_index == (o + 1) % 5 else set()
    wiki = {0} if asn_index in {(o + 2) % 5, (o + 4) % 5} else set()
    return 1, wa, tg, wiki


def synth_measurements(T: Templates) -> list[dict]:
    """Return synthetic measurements with their receive times and metadata."""
    out = []
    for day in SYNTH_DAYS:
        blocked = BLOCK_FIRST <= day <= BLOCK_LAST
        for ai, (asn, net, resolver_ip, fb_ip) in enumerate(AZ_ASNS):
            n, wa_runs, tg_runs, wiki_runs = schedule(day, ai, asn)
            slots = sorted(SLOT_HOURS, key=lambda h: H("slot", day, asn, h))[:n]
            slots.sort()
            for run, hour in enumerate(slots):
                late = LATE_UPLOADS.get((day.isoformat(), asn, run), 0)
                if run == n - 1:
                    late = LATE_UPLOADS.get((day.isoformat(), asn, -1), late)
                sw = software_for(day, asn, run)
                start = dt.datetime.combine(day, dt.time(hour)) + dt.timedelta(
                    seconds=int(between(60, 2700, "start", day, asn, run))
                )
                ctx = {"seed": f"{day}/{asn}/{run}", "fb_ip": fb_ip, "resolver_ip": resolver_ip}
                common = dict(asn=asn, net=net, resolver_ip=resolver_ip, sw=sw)
                msms = []
                # --- IM suite: whatsapp, then telegram (one report per measurement)
                fail_mode = FAILURE_RESET if U("reset", day, asn, run) < (0.6 if asn == 39232 else 0.2) else FAILURE_TIMEOUT
                mst = start
                if run in wa_runs:
                    tk, rt, exp, exp2 = make_whatsapp(T, ctx, mst, blocked, fail_mode)
                    m = envelope(test_name="whatsapp", test_version="0.8.0", mst=mst, tst=mst,
                                 rid=report_id(mst, asn, day, asn, run, "wa"), inp=None, test_keys=tk, runtime=rt,
                                 extensions=T.wa_extensions, assets=T.wa_assets, **common)
                    msms.append((m, blocked, exp, exp2, "whatsapp-tls-blocked" if blocked else "whatsapp-ok"))
                    mst = mst + dt.timedelta(seconds=math.ceil(rt) + 2)
                if run in tg_runs:
                    tg_blocked = blocked  # every in-window telegram measurement is blocked (issue 10)
                    tk, rt, exp, exp2 = make_telegram(T, ctx, mst, tg_blocked)
                    m = envelope(test_name="telegram", test_version="0.1.1", mst=mst, tst=mst,
                                 rid=report_id(mst, asn, day, asn, run, "tg"), inp=None, test_keys=tk, runtime=rt,
                                 extensions=T.wa_extensions, assets=T.wa_assets, **common)
                    scen = "telegram-web-tls-blocked" if tg_blocked else "telegram-ok"
                    msms.append((m, tg_blocked, exp, exp2, scen))
                    mst = mst + dt.timedelta(seconds=math.ceil(rt) + 2)
                # --- websites suite: one report, web.whatsapp.com (+ the control site on some runs)
                tst = mst + dt.timedelta(seconds=3)
                rid = report_id(tst, asn, day, asn, run, "wc")
                urls = ["https://web.whatsapp.com/"] + (["https://www.wikipedia.org/"] if run in wiki_runs else [])
                mst = tst + dt.timedelta(seconds=1)
                for url in urls:
                    wc_fail = fail_mode if (blocked and "whatsapp" in url) else None
                    tk, rt, exp, exp2 = make_webconnectivity(ctx, url, mst, wc_fail)
                    m = envelope(test_name="web_connectivity", test_version="0.1.0", mst=mst, tst=tst, rid=rid,
                                 inp=url, test_keys=tk, runtime=rt, extensions=None, assets=T.wa_assets,
                                 test_helpers=T.wc_test_helpers, **common)
                    scen = ("wc-whatsapp-http-failure" if wc_fail else "wc-whatsapp-ok") if "whatsapp" in url else "wc-control-site-ok"
                    msms.append((m, wc_fail is not None, exp, exp2, scen))
                    mst = mst + dt.timedelta(seconds=math.ceil(rt) + 1)
                # --- receive times
                for i, (m, mblocked, exp, exp2, scen) in enumerate(msms):
                    mst_dt = parse_mst(m["measurement_start_time"])
                    if late:
                        base = dt.datetime.combine(day + dt.timedelta(days=late), dt.time(6 + asn % 5))
                        recv = base + dt.timedelta(seconds=int(between(30, 1500, "late", day, asn, run)) + 3 * i)
                    else:
                        recv = mst_dt + dt.timedelta(seconds=math.ceil(m["test_runtime"]) + int(between(1, 9, "up", day, asn, run, i)))
                    recv = recv.replace(microsecond=int(between(0, 999999, "us", day, asn, run, i)))
                    out.append(
                        {
                            "obj": m,
                            "line": compact(m),
                            "recv": recv,
                            "asn": asn,
                            "day": day,
                            "blocked": mblocked,
                            "expected": exp,
                            "expected_other": exp2,
                            "scenario": scen,
                            "late_days": late,
                        }
                    )
    out.extend(social_measurements(T))
    return out


def social_measurements(T: Templates) -> list[dict]:
    """Websites-suite runs of the SOCIAL_URLS: one run (one report) per (day, ASN) of SOCIAL_DAYS."""
    out = []
    for day in SOCIAL_DAYS:
        for asn, net, resolver_ip, fb_ip in AZ_ASNS:
            blocked = asn in SOCIAL_BLOCKED_ASNS and SOCIAL_FIRST <= day <= BLOCK_LAST
            hour = sorted(SLOT_HOURS, key=lambda h: H("social-slot", day, asn, h))[0]
            sw = software_for(day, asn, 0)
            tst = dt.datetime.combine(day, dt.time(hour)) + dt.timedelta(
                seconds=int(between(60, 2700, "social-start", day, asn))
            )
            ctx = {"seed": f"{day}/{asn}/social", "fb_ip": fb_ip, "resolver_ip": resolver_ip}
            common = dict(asn=asn, net=net, resolver_ip=resolver_ip, sw=sw)
            fail_mode = FAILURE_RESET if U("social-reset", day, asn) < (0.6 if asn == 39232 else 0.2) else FAILURE_TIMEOUT
            rid = report_id(tst, asn, day, asn, "social", "wc")
            mst = tst + dt.timedelta(seconds=1)
            for i, url in enumerate(SOCIAL_URLS):
                wc_fail = fail_mode if blocked else None
                tk, rt, exp, exp2 = make_webconnectivity(ctx, url, mst, wc_fail)
                m = envelope(test_name="web_connectivity", test_version="0.1.0", mst=mst, tst=tst, rid=rid,
                             inp=url, test_keys=tk, runtime=rt, extensions=None, assets=T.wa_assets,
                             test_helpers=T.wc_test_helpers, **common)
                recv = mst + dt.timedelta(seconds=math.ceil(m["test_runtime"]) + int(between(1, 9, "social-up", day, asn, i)))
                recv = recv.replace(microsecond=int(between(0, 999999, "social-us", day, asn, i)))
                mst = mst + dt.timedelta(seconds=math.ceil(rt) + 1)
                out.append(
                    {
                        "obj": m,
                        "line": compact(m),
                        "recv": recv,
                        "asn": asn,
                        "day": day,
                        "blocked": wc_fail is not None,
                        "in_window": SOCIAL_FIRST <= day <= BLOCK_LAST,
                        "expected": exp,
                        "expected_other": exp2,
                        "scenario": "wc-social-http-failure" if wc_fail else "wc-social-ok",
                        "late_days": 0,
                    }
                )
    return out


def yaml_post(recv: dt.datetime) -> tuple[bytes, dict]:
    mst = recv - dt.timedelta(minutes=3)
    rid = report_id(mst, 28787, "yaml")
    doc = (
        "---\n"
        f"# {SYNTH_LABEL}\n"
        f"report_id: {rid}\n"
        "probe_asn: AS28787\n"
        "probe_cc: AZ\n"
        "software_name: ooniprobe\n"
        "software_version: 2.3.0\n"
        "test_name: whatsapp\n"
        "test_version: 0.6.0\n"
        f"measurement_start_time: '{fmt_time(mst)}'\n"
        "input: null\n"
        "...\n"
    )
    post = compact({"format": "yaml", "content": doc}).encode()
    ident = {"report_id": rid, "test_name": "whatsapp", "input": None, "measurement_start_time": fmt_time(mst)}
    return post, ident


# ---------------------------------------------------------------------------
# Placement
# ---------------------------------------------------------------------------


def fixture_recv(fx: dict) -> dt.datetime:
    o = fx["obj"]
    mst = parse_mst(o.get("measurement_start_time"))
    if mst is None:
        base = MISSING_TIME_BUCKET + dt.timedelta(seconds=int(between(60, 3000, "fxmiss", fx["file"])))
        return base.replace(microsecond=int(between(0, 999999, "fxus", fx["file"])))
    rt = o.get("test_runtime")
    rt = rt if isinstance(rt, (int, float)) and rt >= 0 else 0
    recv = mst + dt.timedelta(seconds=math.ceil(rt) + int(between(2, 240, "fxup", fx["file"])))
    return recv.replace(microsecond=int(between(0, 999999, "fxus", fx["file"])))


class Bucket:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.entries: list[dict] = []
        self.file_info: list[dict] = []

    def add_jsonl(self, key: str, items: list[dict]) -> None:
        """items: dicts with 'line' (str, may be '{}'), and manifest metadata."""
        raw_lines = [(it["line"] + "\n").encode("utf-8") for it in items]
        for n, (it, raw) in enumerate(zip(items, raw_lines), start=1):
            msm = json.loads(raw)
            e = {"key": key, "line": n, "member": None}
            e.update(it["meta"])
            e["identity"] = it.get("identity") or identity_of(msm)
            e["trivial_id"] = trivial_id(raw, msm)
            e["content_sha256"] = hashlib.sha256(it["line"].encode("utf-8")).hexdigest()
            self.entries.append(e)
        self.files[key] = gzip_bytes(b"".join(raw_lines))
        self.file_info.append({"key": key, "format": "jsonl.gz", "n": len(items)})

    def add_tar(self, key: str, members: list[dict], gz: bool) -> None:
        """members: dicts with 'name', 'post' (bytes), 'mtime', meta..."""
        for it in members:
            e = {"key": key, "line": None, "member": it["name"]}
            e.update(it["meta"])
            e["identity"] = it["identity"]
            e["measurement_uid"] = it["uid"]
            e["post_format"] = it["format"]
            e["content_sha256"] = it.get("content_sha256")
            self.entries.append(e)
        data = tar_bytes([(it["name"], it["post"], it["mtime"]) for it in members])
        self.files[key] = gzip_bytes(data) if gz else data
        self.file_info.append({"key": key, "format": "tar.gz" if gz else "tar (plain, despite .tar.gz)", "n": len(members)})


def build(bucket_dir: Path, manifest_path: Path) -> dict:
    fixtures = load_fixtures()
    T = Templates()
    synth = synth_measurements(T)
    B = Bucket()

    # ---- occurrences to place ------------------------------------------------
    # Each record: line (compact JSON str), obj, recv (datetime), cc, tn, meta, placement
    records = []
    for fx in fixtures:
        o = fx["obj"]
        mst = parse_mst(o.get("measurement_start_time"))
        cc, tn = cc_of(o.get("probe_cc")), tn_of(o.get("test_name"))
        meta = {"origin": f"fixture:{fx['file']}"}
        recv = fixture_recv(fx)
        if mst is not None and mst.date() < RAW_FIRST_DAY:
            records.append(dict(line=fx["line"], obj=o, cc=cc, tn=tn, meta=meta, jsonl_day=mst.date(),
                                order=(mst, fx["file"]), raw=None, kind="fixture"))
        else:
            records.append(dict(line=fx["line"], obj=o, cc=cc, tn=tn, meta=meta, jsonl_day=None,
                                order=(recv, fx["file"]), raw=recv, kind="fixture"))
    for s in synth:
        o = s["obj"]
        meta = {
            "origin": "synthetic",
            "asn": s["asn"],
            "day": s["day"].isoformat(),
            "in_window": s.get("in_window", BLOCK_FIRST <= s["day"] <= BLOCK_LAST),
            "blocked": s["blocked"],
            "scenario": s["scenario"],
            "late_upload_days": s["late_days"],
            "expected": s["expected"],
            "expected_other": s["expected_other"],
        }
        bday = s["recv"].date()
        tn = tn_of(o["test_name"])
        records.append(dict(line=s["line"], obj=o, cc="AZ", tn=tn, meta=meta,
                            jsonl_day=bday if bday <= JSONL_LAST_DAY else None, order=(s["recv"], ""),
                            raw=s["recv"] if bday >= RAW_FIRST_DAY else None, kind="synthetic"))

    # ---- jsonl/ ----------------------------------------------------------------
    jgroups: dict[tuple, list] = {}
    for r in records:
        if r["jsonl_day"] is not None:
            jgroups.setdefault((r["tn"], r["cc"], r["jsonl_day"].strftime("%Y%m%d")), []).append(r)
    for (tn, cc, day), rs in sorted(jgroups.items()):
        rs.sort(key=lambda r: r["order"])
        items = [{"line": r["line"], "meta": dict(r["meta"], layout="jsonl")} for r in rs]
        base = f"jsonl/{tn}/{cc}/{day}/00/{day}_{cc}_{tn}"
        if (tn, cc, day) in JSONL_SPLIT:
            half = (len(items) + 1) // 2
            B.add_jsonl(f"{base}.l.0.jsonl.gz", items[:half])
            B.add_jsonl(f"{base}.l.1.jsonl.gz", items[half:])
        else:
            B.add_jsonl(f"{base}.l.0.jsonl.gz", items)
        if (tn, cc, day) in JSONL_X_DUPLICATES:
            hasher = hashlib.shake_128()
            for r in rs:
                hasher.update((r["obj"].get("report_id") or "").encode())
            dup = [dict(it, meta=dict(it["meta"], duplicate_of=f"{base}.l.0.jsonl.gz")) for it in items]
            B.add_jsonl(f"{base}.x.{hasher.hexdigest(8)}.jsonl.gz", dup)

    # ---- raw/ ------------------------------------------------------------------
    # Fixtures: one can per (bucket day, CC, tn); all receive times are moved into
    # the hour of the latest one.  Synthetic AZ: one can per (receive hour, tn),
    # split every AZ_CAN_CAP measurements (.n0.0, .n0.1, ...).
    rgroups: dict[tuple, list] = {}
    for r in records:
        if r["raw"] is None:
            continue
        if r["kind"] == "fixture":
            rgroups.setdefault(("fx", r["raw"].date(), r["cc"], r["tn"]), []).append(r)
        else:
            hour = r["raw"].replace(minute=0, second=0, microsecond=0)
            rgroups.setdefault(("az", hour, r["cc"], r["tn"]), []).append(r)
    yaml_done = False
    for gk, rs in sorted(rgroups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2], kv[0][3])):
        kind, _, cc, tn = gk
        if kind == "fx":
            hour = max(r["raw"] for r in rs).replace(minute=0, second=0, microsecond=0)
            for r in rs:
                r["recv_final"] = max(r["raw"], hour)
        else:
            hour = gk[1]
            for r in rs:
                r["recv_final"] = r["raw"]
        members = []
        for r in rs:
            post = b'{"format":"json","content":' + r["line"].encode("utf-8") + b"}"
            members.append(dict(post=post, recv=r["recv_final"], line=r["line"], obj=r["obj"],
                                meta=dict(r["meta"], layout="raw"), format="json", identity=identity_of(r["obj"])))
        if kind == "az" and tn == "whatsapp" and hour.date() == YAML_POST_DAY and not yaml_done:
            recv = hour.replace(minute=59, second=30, microsecond=123456)
            post, ident = yaml_post(recv)
            members.append(dict(post=post, recv=recv, line="{}", obj={}, format="yaml", identity=ident,
                                meta={"origin": "synthetic", "layout": "raw", "placeholder": True,
                                      "scenario": "yaml-post-placeholder"}))
            yaml_done = True
        for m in members:
            m["uid"] = measurement_uid(m["recv"], cc, tn, m["post"])
            m["name"] = f"{hour:%Y%m%d%H}_{cc}_{tn}/{m['uid']}.post"
            m["mtime"] = int(m["recv"].replace(tzinfo=dt.timezone.utc).timestamp())
            m["content_sha256"] = None if m["format"] == "yaml" else hashlib.sha256(m["line"].encode("utf-8")).hexdigest()
        members.sort(key=lambda m: m["name"])
        cap = AZ_CAN_CAP if kind == "az" else len(members)
        gz = hour.date() >= POSTCAN_GZIP_FROM
        for k in range(0, len(members), cap):
            chunk = members[k : k + cap]
            base = f"raw/{hour:%Y%m%d}/{hour:%H}/{cc}/{tn}/{hour:%Y%m%d%H}_{cc}_{tn}.{COLLECTOR}.{k // cap}"
            B.add_jsonl(
                base + ".jsonl.gz",
                [
                    {
                        "line": m["line"],
                        "meta": dict(m["meta"], twin=base + ".tar.gz", twin_member=m["name"]),
                        "identity": None if m["format"] == "json" else identity_of({}),
                    }
                    for m in chunk
                ],
            )
            B.add_tar(base + ".tar.gz", chunk, gz)
    if not yaml_done:
        raise SystemExit("internal error: yaml post not placed")

    # ---- write -------------------------------------------------------------------
    if bucket_dir.exists():
        shutil.rmtree(bucket_dir)
    for key, data in sorted(B.files.items()):
        p = bucket_dir / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    manifest = make_manifest(B, fixtures, synth)
    manifest_path.write_text(manifest_text(manifest), encoding="utf-8")
    return manifest


def manifest_text(manifest: dict) -> str:
    """Pretty top level, one JSON object per line for 'files' and 'entries'."""
    head = {k: v for k, v in manifest.items() if k not in ("files", "entries")}
    text = json.dumps(head, indent=1, ensure_ascii=False)
    assert text.endswith("\n}")
    parts = [text[:-2]]
    for name in ("files", "entries"):
        rows = ",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in manifest[name])
        parts.append(f',\n "{name}": [\n{rows}\n ]')
    return "".join(parts) + "\n}\n"


def make_manifest(B: Bucket, fixtures: list, synth: list) -> dict:
    entries = sorted(B.entries, key=lambda e: (e["key"], e["line"] or 0, e["member"] or ""))
    distinct = {e["content_sha256"] for e in entries if e.get("content_sha256") and not e.get("placeholder")}
    distinct_fx = {e["content_sha256"] for e in entries if e["origin"].startswith("fixture:")}
    distinct_syn = {e["content_sha256"] for e in entries if e["origin"] == "synthetic" and not e.get("placeholder") and e.get("content_sha256")}
    per_test: dict[str, dict] = {}
    for s in synth:
        d = per_test.setdefault(s["obj"]["test_name"], {"total": 0, "blocked": 0, "not_blocked": 0})
        d["total"] += 1
        d["blocked" if s["blocked"] else "not_blocked"] += 1
    files = sorted(B.file_info, key=lambda f: f["key"])
    for f in files:
        f["bytes"] = len(B.files[f["key"]])
    return {
        "description": (
            "Embedded sample of OONI's S3 bucket layout (raw/ and jsonl/). Real fixtures from "
            "tests/fixtures/ooni-real plus a SYNTHETIC Azerbaijan-2020-like scenario. Generated by "
            "examples/make_sample.py; see examples/README.md."
        ),
        "synthetic_label": SYNTH_LABEL,
        "line_numbers": "1-based (OONI's jsonl table uses 0-based linenum)",
        "trivial_id": "'01' + YYYYMMDD(measurement_start_time) or '00000000' + shake_128(line bytes incl. trailing \\n).hexdigest(15)",
        "measurement_uid": "'{recv:%Y%m%d%H%M%S.%f}_{CC}_{tn}_' + sha512(.post bytes).hexdigest()[:16]",
        "blocking_window": {
            "clock": "measurement_start_time (UTC), not the bucket/upload day",
            "first_blocked_day": BLOCK_FIRST.isoformat(),
            "last_blocked_day": BLOCK_LAST.isoformat(),
            "inclusive": True,
            "first_unblocked_day_after": (BLOCK_LAST + dt.timedelta(days=1)).isoformat(),
            "blocked": {
                "whatsapp": "TLS to web.whatsapp.com and v.whatsapp.net fails (generic_timeout_error, some connection_reset); TCP, DNS, http:// and eN endpoints ok",
                "telegram": "TLS to web.telegram.org fails (generic_timeout_error) in every measurement inside the window; DCs ok",
                "web_connectivity": "https://web.whatsapp.com/ request fails after a successful TCP connect (blocking=http-failure); https://www.wikipedia.org/ never blocked",
            },
            "social_media": {
                "description": "web_connectivity of social-media URLs, blocked like web.whatsapp.com (https request fails after a successful TCP connect, blocking=http-failure) from first_blocked_day through last_blocked_day on blocked_asns only; reachable on the other ASNs and outside that window. Measured only on the listed days (none after 2020-10-06, so the end of social-media blocking is not observable)",
                "urls": list(SOCIAL_URLS),
                "domains": [u.split("/")[2] for u in SOCIAL_URLS],
                "first_blocked_day": SOCIAL_FIRST.isoformat(),
                "last_blocked_day": BLOCK_LAST.isoformat(),
                "blocked_asns": SOCIAL_BLOCKED_ASNS,
                "unblocked_asns": [a for a, *_ in AZ_ASNS if a not in SOCIAL_BLOCKED_ASNS],
                "days": [d.isoformat() for d in SOCIAL_DAYS],
            },
            "im_measured_after_window": {
                "description": "whatsapp and telegram are measured on every ASN on every synthetic day after last_blocked_day, so the end of the block (first_unblocked_day_after) is visible on each ASN",
                "days": [d.isoformat() for d in SYNTH_DAYS if d > BLOCK_LAST],
                "tests": ["whatsapp", "telegram"],
            },
        },
        "synthetic_days": [d.isoformat() for d in SYNTH_DAYS],
        "asns": [{"asn": a, "probe_asn": f"AS{a}", "probe_network_name": n, "resolver_ip": r} for a, n, r, _ in AZ_ASNS],
        "network_names_note": "probe_network_name values are illustrative labels, not verified registry names",
        "counts": {
            "fixtures": len(fixtures),
            "synthetic_measurements": len(synth),
            "synthetic_per_test": per_test,
            "distinct_measurements_by_content": len(distinct),
            "distinct_fixture_measurements": len(distinct_fx),
            "distinct_synthetic_measurements": len(distinct_syn),
            "occurrences": len(entries),
            "jsonl_lines": sum(1 for e in entries if e["line"] is not None),
            "post_members": sum(1 for e in entries if e["member"] is not None),
            "placeholders_jsonl": sum(1 for e in entries if e["line"] is not None and e.get("placeholder")),
            "yaml_posts": sum(1 for e in entries if e.get("post_format") == "yaml"),
            "files": len(files),
            "bytes": sum(f["bytes"] for f in files),
        },
        "files": files,
        "entries": entries,
    }


# ---------------------------------------------------------------------------
# --check
# ---------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}


def check(bucket_dir: Path, manifest_path: Path, payload_only: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="ooni-sample-") as tmp:
        tb, tm = Path(tmp) / "bucket", Path(tmp) / "sample-manifest.json"
        build(tb, tm)
        problems = []
        if not bucket_dir.is_dir():
            problems.append(f"missing {bucket_dir}")
        a, b = _tree(tb), _tree(bucket_dir) if bucket_dir.is_dir() else {}
        for k in sorted(set(a) - set(b)):
            problems.append(f"missing from committed tree: {k}")
        for k in sorted(set(b) - set(a)):
            problems.append(f"not produced by the generator: {k}")
        recompressed = 0
        for k in sorted(set(a) & set(b)):
            if filecmp.cmp(a[k], b[k], shallow=False):
                continue
            if payload_only and k.endswith(".gz"):
                pa, pb = a[k].read_bytes(), b[k].read_bytes()
                if pa[:2] == pb[:2] == b"\x1f\x8b" and gzip.decompress(pa) == gzip.decompress(pb):
                    recompressed += 1
                    continue
            problems.append(f"differs: {k}")
        manifest_differs = not manifest_path.exists() or manifest_path.read_bytes() != tm.read_bytes()
        if manifest_differs:
            if payload_only and manifest_path.exists():
                ja, jb = json.loads(tm.read_bytes()), json.loads(manifest_path.read_bytes())
                for j in (ja, jb):
                    j["counts"].pop("bytes", None)
                    for f in j["files"]:
                        f.pop("bytes", None)
                if ja != jb:
                    problems.append(f"differs: {manifest_path.name}")
            else:
                problems.append(f"differs: {manifest_path.name}")
        for p in problems:
            print(p, file=sys.stderr)
        if recompressed:
            print(f"note: {recompressed} .gz files differ only in compressed bytes (different zlib?)", file=sys.stderr)
        if problems:
            print(f"CHECK FAILED: {len(problems)} difference(s)", file=sys.stderr)
            return 1
        print(f"check ok: {len(a)} files identical" + (f" ({recompressed} by payload)" if recompressed else ""))
        return 0


# ---------------------------------------------------------------------------
# --verify: independent sanity checks on the files as they are on disk
# ---------------------------------------------------------------------------


def verify(bucket_dir: Path, manifest_path: Path) -> int:
    errors: list[str] = []

    def err(msg):
        if len(errors) < 50:
            print("VERIFY:", msg, file=sys.stderr)
        errors.append(msg)

    files = _tree(bucket_dir)
    manifest = json.loads(manifest_path.read_bytes())
    by_key: dict[str, list] = {}
    for e in manifest["entries"]:
        by_key.setdefault(e["key"], []).append(e)
    if set(by_key) != set(files):
        err(f"manifest keys != files: {sorted(set(by_key) ^ set(files))[:5]}")
    lines_of: dict[str, list[bytes]] = {}
    posts_of: dict[str, list[tuple[str, bytes]]] = {}
    for key, path in sorted(files.items()):
        data = path.read_bytes()
        if key.endswith(".jsonl.gz"):
            payload = gzip.decompress(data)  # accepts multi-member streams
            if not payload.endswith(b"\n"):
                err(f"{key}: last line not newline-terminated")
            lines = [ln + b"\n" for ln in payload.split(b"\n")[:-1]]
            for i, ln in enumerate(lines, 1):
                try:
                    json.loads(ln)
                except ValueError:
                    err(f"{key}:{i}: invalid JSON")
            lines_of[key] = lines
        elif key.endswith(".tar.gz"):
            day = dt.datetime.strptime(key.split("/")[1], "%Y%m%d").date()
            is_gz = data[:2] == b"\x1f\x8b"
            if is_gz != (day >= POSTCAN_GZIP_FROM):
                err(f"{key}: gzip={is_gz} but bucket day {day}")
            if not is_gz and data[257:262] != b"ustar":
                err(f"{key}: no ustar magic at offset 257")
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
            names = [n for n, _ in members]
            if names != sorted(names):
                err(f"{key}: members not sorted")
            posts_of[key] = members
        else:
            err(f"unexpected file {key}")
    # twins, uids, receive times
    for key, members in posts_of.items():
        twin = key[: -len(".tar.gz")] + ".jsonl.gz"
        lines = lines_of.get(twin)
        if lines is None or len(lines) != len(members):
            err(f"{key}: twin missing or different length")
            continue
        parts = key.split("/")
        hour = dt.datetime.strptime(parts[1] + parts[2], "%Y%m%d%H")
        cc, tn = parts[3], parts[4]
        for (name, post), line in zip(members, lines):
            d, base = name.rsplit("/", 1)
            if d != f"{hour:%Y%m%d%H}_{cc}_{tn}" or not base.endswith(".post"):
                err(f"{key}: bad member name {name}")
            uid = base[:-5]
            ts, ucc, utn, h16 = uid.split("_")
            recv = dt.datetime.strptime(ts, "%Y%m%d%H%M%S.%f")
            if (ucc, utn) != (cc, tn) or h16 != hashlib.sha512(post).hexdigest()[:16]:
                err(f"{key}: uid mismatch {uid}")
            if recv.replace(minute=0, second=0, microsecond=0) != hour:
                err(f"{key}: receive time {recv} outside key hour")
            w = json.loads(post)
            if w.get("format") == "json":
                if compact(w["content"]).encode() + b"\n" != line:
                    err(f"{key}: twin line differs for {uid}")
                mst = parse_mst(w["content"].get("measurement_start_time"))
                if mst is not None and mst > recv:
                    err(f"{key}: measured after receipt {uid}")
                if cc_of(w["content"].get("probe_cc")) != cc or tn_of(w["content"].get("test_name")) != tn:
                    err(f"{key}: body cc/tn differ from key for {uid}")
            elif line != b"{}\n":
                err(f"{key}: non-json post without {{}} placeholder line")
    # manifest ids recomputed from the bytes on disk
    for key, entries in by_key.items():
        if key in lines_of:
            if [e["line"] for e in entries] != list(range(1, len(lines_of[key]) + 1)):
                err(f"{key}: manifest line numbers")
                continue
            for e, ln in zip(entries, lines_of[key]):
                msm = json.loads(ln)
                if e["trivial_id"] != trivial_id(ln, msm) or len(e["trivial_id"]) != 40:
                    err(f"{key}:{e['line']}: trivial_id")
                if e["identity"] != identity_of(msm):
                    err(f"{key}:{e['line']}: identity")
        elif key in posts_of:
            if [e["member"] for e in entries] != [n for n, _ in posts_of[key]]:
                err(f"{key}: manifest members")
            for e, (n, _) in zip(entries, posts_of[key]):
                if e["measurement_uid"] != n.rsplit("/", 1)[1][:-5]:
                    err(f"{key}: measurement_uid {n}")
    # every fixture exactly once per layout copy
    fixtures = load_fixtures()
    want = {fx["line"].encode() + b"\n": fx["file"] for fx in fixtures}
    copies = {"jsonl/ .l.": [], "jsonl/ .x.": [], "raw/ jsonl.gz": [], "raw/ tar": []}
    for key, lines in lines_of.items():
        tag = "raw/ jsonl.gz" if key.startswith("raw/") else ("jsonl/ .x." if ".x." in key else "jsonl/ .l.")
        copies[tag].extend(lines)
    for key, members in posts_of.items():
        for _, post in members:
            w = json.loads(post)
            if w.get("format") == "json":
                copies["raw/ tar"].append(compact(w["content"]).encode() + b"\n")
    from collections import Counter

    seen = Counter()
    for tag, lines in copies.items():
        c = Counter(ln for ln in lines if ln in want)
        for ln, n in c.items():
            if n != 1:
                err(f"fixture {want[ln]} appears {n} times in {tag}")
        seen.update(c.keys())
    primary = Counter()
    for tag in ("jsonl/ .l.", "raw/ jsonl.gz"):
        primary.update(ln for ln in copies[tag] if ln in want)
    for ln, f in want.items():
        if primary[ln] != 1:
            err(f"fixture {f} appears {primary[ln]} times in .l./raw jsonl.gz")
    # synthetic measurements: labels and internal consistency
    n_syn = 0
    for key, lines in lines_of.items():
        for ln in lines:
            m = json.loads(ln)
            ann = m.get("annotations") if isinstance(m, dict) else None
            if not (isinstance(ann, dict) and ann.get("synthetic") == SYNTH_LABEL):
                continue
            n_syn += 1
            if "_SYNTH" not in m["report_id"] or len(m["report_id"].split("_")[2]) != 50:
                err(f"{key}: synthetic report_id {m['report_id']}")
            tk = m["test_keys"]
            ev = tk.get("network_events") or []
            ts = [e["t"] for e in ev]
            if ts != sorted(ts):
                err(f"{key}: network_events t not increasing")
            done = [e["t"] for e in ev if e["operation"] == "tls_handshake_done"]
            if [h["t"] for h in tk.get("tls_handshakes") or []] != done:
                err(f"{key}: tls_handshakes t != tls_handshake_done t")
            if m["test_name"] == "whatsapp":
                fails = {h["server_name"]: h["failure"] for h in tk["tls_handshakes"]}
                if tk["whatsapp_web_failure"] != fails["web.whatsapp.com"] or tk["registration_server_failure"] != fails["v.whatsapp.net"]:
                    err(f"{key}: whatsapp verdict keys inconsistent")
                if not all(c["status"]["success"] for c in tk["tcp_connect"]):
                    err(f"{key}: whatsapp tcp failure")
            day = parse_mst(m["measurement_start_time"]).date()
            inside = BLOCK_FIRST <= day <= BLOCK_LAST
            if m["test_name"] == "whatsapp" and inside != (tk["whatsapp_web_status"] == "blocked"):
                err(f"{key}: whatsapp status vs window")
            if m["test_name"] == "web_connectivity" and m["input"] in SOCIAL_URLS:
                s_inside = SOCIAL_FIRST <= day <= BLOCK_LAST and int(m["probe_asn"][2:]) in SOCIAL_BLOCKED_ASNS
                if s_inside != (tk["blocking"] == "http-failure"):
                    err(f"{key}: social web_connectivity status vs window")
            if m["test_name"] == "telegram" and inside != (tk["telegram_web_status"] == "blocked"):
                err(f"{key}: telegram status vs window")
            if m["test_name"] == "web_connectivity" and "whatsapp" in m["input"] and inside != (tk["blocking"] == "http-failure"):
                err(f"{key}: web_connectivity status vs window")
            if m["test_name"] == "telegram" and not inside and tk["telegram_web_status"] != "ok":
                err(f"{key}: telegram blocked outside the window")
    print(f"verify: {len(files)} files, {sum(map(len, lines_of.values()))} jsonl lines, "
          f"{sum(map(len, posts_of.values()))} posts, {n_syn} synthetic lines, {len(errors)} problem(s)")
    return 1 if errors else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare with the committed tree")
    ap.add_argument("--payload-only", action="store_true",
                    help="with --check: accept .gz files whose decompressed payload is identical (other zlib builds)")
    ap.add_argument("--out", type=Path, default=DEFAULT_BUCKET, help="bucket directory (default: examples/bucket)")
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="manifest path")
    ap.add_argument("--verify", action="store_true", help="only run sanity checks on the existing tree")
    args = ap.parse_args(argv)
    if args.verify:
        return verify(args.out, args.manifest)
    if args.check:
        return check(args.out, args.manifest, args.payload_only)
    m = build(args.out, args.manifest)
    c = m["counts"]
    print(
        f"wrote {c['files']} files, {c['bytes']} bytes, {c['occurrences']} occurrences "
        f"({c['distinct_measurements_by_content']} distinct measurements) to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
