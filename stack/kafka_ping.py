#!/usr/bin/env python3
"""Kafka health check with the Python standard library only.

Sends ApiVersions (v0, which every broker answers) to learn the Metadata versions the broker
accepts, then one Metadata request for all topics, and exits 0 only when the answer lists at
least one broker. That is "a metadata request answered" without starting a JVM
(`kafka-topics --list` costs seconds of CPU per probe on two busy cores) and without
installing a client library.

    kafka_ping.py [--host 127.0.0.1] [--port 9092] [--timeout 2] [-q]
                  [--tls [--cafile CA.pem]] [--sasl-plain USER --password-file FILE]

--tls speaks TLS (hostname verified against --cafile); --sasl-plain authenticates with
SASL/PLAIN (SaslHandshake v1 + SaslAuthenticate) before asking for metadata, as a
SASL_SSL or SASL_PLAINTEXT listener requires.

Prints "brokers=<n> controller=<id> cluster=<id>". Exit codes: 0 answered, 1 otherwise.
"""
import argparse
import os
import socket
import ssl
import struct
import sys

API_METADATA, API_VERSIONS = 3, 18
CLIENT_ID = b"ember-stack-ping"


class KafkaError(Exception):
    pass


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise KafkaError("connection closed by broker")
        buf += chunk
    return buf


def _roundtrip(sock, api_key, version, corr, body, flexible):
    # Request header v1 (non-flexible) or v2 (flexible: + empty tagged fields).
    header = struct.pack(">hhih", api_key, version, corr, len(CLIENT_ID)) + CLIENT_ID
    if flexible:
        header += b"\x00"
    msg = header + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    resp = _recv_exact(sock, size)
    (got,) = struct.unpack(">i", resp[:4])
    if got != corr:
        raise KafkaError(f"correlation id mismatch ({got} != {corr})")
    return resp[4:]


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        vals = struct.unpack(fmt, self.data[self.pos:self.pos + size])
        self.pos += size
        return vals[0] if len(vals) == 1 else vals

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()

    def string(self, compact):
        n = self.uvarint() - 1 if compact else self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode(errors="replace")
        self.pos += n
        return s


def _metadata_range(sock):
    # ApiVersions v0 body is empty; its response is error_code + [api_key min max].
    r = _Reader(_roundtrip(sock, API_VERSIONS, 0, 1, b"", flexible=False))
    err, n = r.take(">hi")
    if err != 0:
        raise KafkaError(f"ApiVersions error code {err}")
    for _ in range(n):
        key, lo, hi = r.take(">hhh")
        if key == API_METADATA:
            return lo, hi
    raise KafkaError("broker does not list the Metadata API")


API_SASL_HANDSHAKE, API_SASL_AUTHENTICATE = 17, 36


def _api_range(sock, api_key):
    r = _Reader(_roundtrip(sock, API_VERSIONS, 0, 1, b"", flexible=False))
    err, n = r.take(">hi")
    if err != 0:
        raise KafkaError(f"ApiVersions error code {err}")
    ranges = {}
    for _ in range(n):
        key, lo, hi = r.take(">hhh")
        ranges[key] = (lo, hi)
    if api_key not in ranges:
        raise KafkaError(f"broker does not list API {api_key}")
    return ranges[api_key], ranges


def _sasl_plain(sock, user, password, ranges):
    # SaslHandshake v1: mechanism; response: error_code, [mechanisms].
    mech = b"PLAIN"
    r = _Reader(_roundtrip(sock, API_SASL_HANDSHAKE, 1, 10,
                           struct.pack(">h", len(mech)) + mech, flexible=False))
    err = r.take(">h")
    if err != 0:
        raise KafkaError(f"SaslHandshake error code {err} (PLAIN not enabled?)")
    # SaslAuthenticate v0/v1 (non-flexible): auth_bytes; response starts with error_code.
    lo, hi = ranges.get(API_SASL_AUTHENTICATE, (0, 0))
    version = 1 if lo <= 1 <= hi else lo
    if version > 1:
        raise KafkaError(f"no SaslAuthenticate version this check speaks ({lo}..{hi})")
    token = b"\0" + user.encode() + b"\0" + password.encode()
    r = _Reader(_roundtrip(sock, API_SASL_AUTHENTICATE, version, 11,
                           struct.pack(">i", len(token)) + token, flexible=False))
    err = r.take(">h")
    if err != 0:
        raise KafkaError(f"SASL/PLAIN authentication failed (error code {err})")


def _connect(host, port, timeout, tls, cafile):
    sock = socket.create_connection((host, port), timeout=timeout)
    if not tls:
        return sock
    ctx = ssl.create_default_context(cafile=cafile)
    return ctx.wrap_socket(sock, server_hostname=host)


def ping(host, port, timeout, tls=False, cafile=None, sasl_user=None, sasl_password=None):
    with _connect(host, port, timeout, tls, cafile) as sock:
        sock.settimeout(timeout)
        if sasl_user is not None:
            _, ranges = _api_range(sock, API_SASL_HANDSHAKE)
            _sasl_plain(sock, sasl_user, sasl_password or "", ranges)
        lo, hi = _metadata_range(sock)
        # Prefer a non-flexible version (4..8: simple encoding); Kafka 4.x dropped some old
        # versions, so fall back to the flexible v12 encoding when 4..8 is out of range.
        if lo <= 8 and hi >= 4:
            version = min(max(lo, 4), hi, 8)
        elif lo <= 12 <= hi:
            version = 12
        else:
            raise KafkaError(f"no Metadata version this check speaks (broker: {lo}..{hi})")
        flexible = version >= 9
        if flexible:
            # topics=null (compact: 0), allow_auto_topic_creation=false,
            # include_topic_authorized_operations=false, no tagged fields
            body = b"\x00\x00\x00\x00"
        else:
            # topics=null (-1), allow_auto_topic_creation=false, and from v8 the two
            # include_*_authorized_operations flags
            body = struct.pack(">i", -1) + b"\x00" + (b"\x00\x00" if version >= 8 else b"")
        resp = _roundtrip(sock, API_METADATA, version, 2, body, flexible)
        r = _Reader(resp)
        if flexible:
            r.skip_tags()  # response header v1 tagged fields
        r.take(">i")  # throttle_time_ms (v3+)
        nbrokers = r.uvarint() - 1 if flexible else r.take(">i")
        for _ in range(max(nbrokers, 0)):
            r.take(">i")  # node_id
            r.string(flexible)  # host
            r.take(">i")  # port
            r.string(flexible)  # rack
            if flexible:
                r.skip_tags()
        cluster = r.string(flexible)
        controller = r.take(">i")
        if nbrokers < 1:
            raise KafkaError("metadata lists no brokers yet")
        return f"brokers={nbrokers} controller={controller} cluster={cluster} metadata_v{version}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("KAFKA_PORT", "9092")))
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing, exit code only")
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument("--cafile", help="CA (PEM) that signs the broker's certificate")
    p.add_argument("--sasl-plain", metavar="USER", help="authenticate with SASL/PLAIN as USER")
    p.add_argument("--password-file", help="the SASL password (not on the command line)")
    a = p.parse_args()
    try:
        password = None
        if a.password_file:
            with open(a.password_file) as f:
                password = f.read().rstrip("\n")
        info = ping(a.host, a.port, a.timeout, a.tls, a.cafile, a.sasl_plain, password)
    except (OSError, KafkaError, struct.error, IndexError) as e:
        if not a.quiet:
            print(f"kafka_ping: {a.host}:{a.port}: {e}", file=sys.stderr)
        return 1
    if not a.quiet:
        print(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
