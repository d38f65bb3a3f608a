"""Puts fake-gcs-server in front of object_store's GCS client.

object_store talks to Google Cloud Storage through the XML API: objects are
read with `GET /<bucket>/<object>`, listed with `GET /<bucket>?list-type=2`
and written with a plain `PUT /<bucket>/<object>` that must answer with an
`ETag` header. fake-gcs-server (stack/gcs/install.sh) serves the reads and the
listing, but it only accepts a PUT that carries an upload type or a URL
signature, and it answers uploads without an `ETag`.

This proxy forwards every request unchanged except that one: a plain
object PUT becomes the JSON API's media upload of the same bytes
(`POST /upload/storage/v1/b/<bucket>/o?uploadType=media&name=<object>`,
with `x-goog-if-generation-match` as `ifGenerationMatch`), and the object
resource it returns becomes the XML answer's `ETag` and `x-goog-generation`
headers. The emulator still stores, versions, lists and serves every
object; the proxy only translates the one call it lacks. Copies
(`x-goog-copy-source`) and multipart uploads are not translated: the
checkpoint writes small whole objects.

    xml_put_shim.py <listen port> <fake-gcs-server port>

Standard library only.
"""

import http.client
import http.server
import json
import sys
import urllib.parse

# Hop-by-hop headers, which a proxy must not forward.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}


class Shim(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ("127.0.0.1", 0)

    def log_message(self, format, *args):
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _upstream(self, method, target, body, headers):
        host, port = self.upstream
        conn = http.client.HTTPConnection(host, port, timeout=60)
        try:
            # Header names arrive in any case: drop the ones set here
            # (twice, Go's server refuses the request).
            headers = {
                k: v
                for k, v in headers.items()
                if k.lower() not in HOP_BY_HOP and k.lower() not in ("host", "content-length")
            }
            headers["Host"] = f"{host}:{port}"
            headers["Content-Length"] = str(len(body))
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def _answer(self, status, headers, body):
        self.send_response(status)
        length_sent = False
        for name, value in headers:
            # send_response wrote its own Date and Server.
            if name.lower() in HOP_BY_HOP or name.lower() in ("date", "server"):
                continue
            if name.lower() == "content-length":
                # A HEAD answer keeps the object's length, without a body.
                if self.command != "HEAD":
                    value = str(len(body))
                length_sent = True
            self.send_header(name, value)
        if not length_sent:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self):
        body = self._body()
        self._answer(*self._upstream(self.command, self.path, body, dict(self.headers)))

    do_GET = do_HEAD = do_POST = do_DELETE = do_PATCH = _forward

    def do_PUT(self):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.lstrip("/").split("/", 1)
        plain = (
            not url.query
            and len(parts) == 2
            and parts[1]
            and "x-goog-copy-source" not in self.headers
        )
        if not plain:
            return self._forward()
        bucket, name = parts[0], urllib.parse.unquote(parts[1])
        query = {"uploadType": "media", "name": name}
        generation = self.headers.get("x-goog-if-generation-match")
        if generation is not None:
            query["ifGenerationMatch"] = generation
        target = f"/upload/storage/v1/b/{bucket}/o?" + urllib.parse.urlencode(query)
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() == "content-type" or k.lower().startswith("x-goog-meta-")
        }
        status, upstream_headers, body = self._upstream("POST", target, self._body(), headers)
        if status != 200:
            return self._answer(status, upstream_headers, body)
        resource = json.loads(body)
        self._answer(
            200,
            [
                ("ETag", f'"{resource["etag"]}"'),
                ("x-goog-generation", str(resource["generation"])),
            ],
            b"",
        )


def main():
    listen, upstream = int(sys.argv[1]), int(sys.argv[2])
    Shim.upstream = ("127.0.0.1", upstream)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", listen), Shim)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
