#!/usr/bin/env python3
"""Cassandra health check with the Python standard library only.

Speaks just enough of the CQL native protocol v4 to send STARTUP (+ AUTH_RESPONSE when the
server asks for a password) and one QUERY, and exits 0 only when a RESULT with a row comes
back. No driver is needed: `cassandra-driver` is not installed on our machines, and a JVM
`nodetool` takes seconds to start on two busy cores.

    cql_ping.py [--host 127.0.0.1] [--port 9042] [--user U --password P] [--timeout 2]
                [--query "SELECT release_version FROM system.local"] [-q]
                [--tls [--cafile CA.pem]]

--tls speaks TLS to a node with client_encryption_options (certificate checked against
--cafile, hostname included).

Prints the first column of the first row (the release version by default).
Exit codes: 0 answered, 1 not answering / error.
"""
import argparse
import os
import socket
import ssl
import struct
import sys

VERSION = 0x04  # request direction, protocol v4 (Cassandra 3.0 .. 5.0 all speak it)

OP_ERROR, OP_STARTUP, OP_READY, OP_AUTHENTICATE = 0x00, 0x01, 0x02, 0x03
OP_QUERY, OP_RESULT, OP_AUTH_RESPONSE, OP_AUTH_SUCCESS = 0x07, 0x08, 0x0F, 0x10
RESULT_ROWS = 0x0002
CONSISTENCY_ONE = 0x0001


class CqlError(Exception):
    pass


def _string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def _long_string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise CqlError("connection closed by server")
        buf += chunk
    return buf


def _request(sock, stream, opcode, body):
    sock.sendall(struct.pack(">BBhBi", VERSION, 0, stream, opcode, len(body)) + body)
    version, _flags, _stream, op, length = struct.unpack(">BBhBi", _recv_exact(sock, 9))
    if version & 0x7F != VERSION & 0x7F:
        raise CqlError(f"unexpected protocol version 0x{version:02x} in response")
    payload = _recv_exact(sock, length)
    if op == OP_ERROR:
        code = struct.unpack(">i", payload[:4])[0]
        (mlen,) = struct.unpack(">H", payload[4:6])
        raise CqlError(f"server error 0x{code:04x}: {payload[6:6 + mlen].decode(errors='replace')}")
    return op, payload


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        vals = struct.unpack(fmt, self.data[self.pos:self.pos + size])
        self.pos += size
        return vals[0] if len(vals) == 1 else vals

    def string(self):
        n = self.take(">H")
        s = self.data[self.pos:self.pos + n].decode(errors="replace")
        self.pos += n
        return s

    def bytes_(self):
        n = self.take(">i")
        if n < 0:
            return None
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def option(self):
        # Only simple types are expected in a health query; collections/UDTs would need
        # recursive parsing, which the first-cell read below never requires for them anyway.
        type_id = self.take(">H")
        if type_id == 0x0000:  # custom: [string] class name
            self.string()
        elif type_id in (0x0020, 0x0022):  # list, set
            self.option()
        elif type_id == 0x0021:  # map
            self.option()
            self.option()
        elif type_id in (0x0030, 0x0031):
            raise CqlError("UDT/tuple columns are not supported by cql_ping")
        return type_id


def _first_cell(payload):
    r = _Reader(payload)
    kind = r.take(">i")
    if kind != RESULT_ROWS:
        return None  # Void / SetKeyspace / SchemaChange: the server answered, no rows
    flags, ncols = r.take(">ii")
    if flags & 0x0002:  # has_more_pages: paging state
        r.bytes_()
    if flags & 0x0004:  # no_metadata
        ncols_meta = 0
    else:
        ncols_meta = ncols
        if flags & 0x0001:  # global_tables_spec
            r.string(), r.string()
    for _ in range(ncols_meta):
        if not flags & 0x0001:
            r.string(), r.string()
        r.string()
        r.option()
    nrows = r.take(">i")
    if nrows == 0 or ncols == 0:
        return ""
    cell = r.bytes_()
    return "" if cell is None else cell.decode(errors="replace")


def _connect(host, port, timeout, tls, cafile):
    sock = socket.create_connection((host, port), timeout=timeout)
    if not tls:
        return sock
    ctx = ssl.create_default_context(cafile=cafile)
    return ctx.wrap_socket(sock, server_hostname=host)


def ping(host, port, query, user, password, timeout, tls=False, cafile=None):
    with _connect(host, port, timeout, tls, cafile) as sock:
        sock.settimeout(timeout)
        startup = struct.pack(">H", 1) + _string("CQL_VERSION") + _string("3.0.0")
        op, payload = _request(sock, 1, OP_STARTUP, startup)
        if op == OP_AUTHENTICATE:
            if user is None:
                raise CqlError("server requires authentication (pass --user/--password)")
            token = b"\0" + user.encode() + b"\0" + (password or "").encode()
            op, payload = _request(sock, 2, OP_AUTH_RESPONSE, struct.pack(">i", len(token)) + token)
            if op != OP_AUTH_SUCCESS:
                raise CqlError(f"authentication not accepted (opcode 0x{op:02x})")
        elif op != OP_READY:
            raise CqlError(f"unexpected reply to STARTUP (opcode 0x{op:02x})")
        body = _long_string(query) + struct.pack(">HB", CONSISTENCY_ONE, 0)
        op, payload = _request(sock, 3, OP_QUERY, body)
        if op != OP_RESULT:
            raise CqlError(f"unexpected reply to QUERY (opcode 0x{op:02x})")
        return _first_cell(payload)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("CASSANDRA_PORT", "9042")))
    p.add_argument("--user", default=os.environ.get("CQL_USER"))
    p.add_argument("--password", default=os.environ.get("CQL_PASSWORD"))
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--query", default="SELECT release_version FROM system.local")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing, exit code only")
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument("--cafile", help="CA (PEM) that signs the node's certificate")
    a = p.parse_args()
    try:
        value = ping(a.host, a.port, a.query, a.user, a.password, a.timeout, a.tls, a.cafile)
    except (OSError, CqlError, struct.error) as e:
        if not a.quiet:
            print(f"cql_ping: {a.host}:{a.port}: {e}", file=sys.stderr)
        return 1
    if not a.quiet and value is not None:
        print(value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
