#!/usr/bin/env python3
"""A misbehaving HTTP front for a test registry (tests/cli/t8*.bats).

Listens on 127.0.0.1 (--port, default 0: the kernel picks; the port is written
to --port-file) and
forwards every request to --upstream (http://127.0.0.1:PORT), keeping the
Host header so that the registry's Location URLs point back at us.  Blob
GETs (GET /v2/<repo>/blobs/sha256:<hex>) can be made to misbehave:

  --fail N          answer 500 to the first N GETs of each blob
  --cut             once per blob, send the headers and half the body, then
                    drop the connection
  --rate BYTES      send bodies of blob GETs at about BYTES per second
  --redirect        answer 307 to blob GETs, pointing at a second listener of
                    ours (another port, so another origin); that listener
                    fetches the blob from upstream with --upstream-auth
                    (user:pass), like object storage behind a signed URL

Hostile answers (docs/security.md), one switch per case:

  --ignore-range    forward blob GETs without their Range header: a resumed
                    download gets the whole blob (200), not its rest (206)
  --endless-404     answer blob GETs 404 with a body that never ends
  --index-depth N   answer manifest GETs by tag with an index whose only
                    entry is another index, N levels deep (each served by
                    digest), the last one pointing at the real manifest
  --disk-size-annotation N
                    rewrite the org.cirruslabs.tart.uncompressed-disk-size
                    annotation of manifests fetched by tag to N
  --manifest-rate BYTES
                    send manifest bodies at about BYTES per second
  --upload-location URL
                    answer the POST that starts a blob upload 202 with this
                    Location ("storage" is our second listener, another
                    origin, which accepts the upload and logs it)

Every request is logged to --log as one line:
  <listener> <METHOD> <path> auth=<yes|no> range=<value|-> -> <status> [<note>]
Never logs header values.  Runs until SIGTERM/SIGINT.  Standard library only.
"""

import argparse
import base64
import hashlib
import json
import http.client
import http.server
import os
import re
import signal
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

BLOB_RE = re.compile(r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$")
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate"}

ARGS = None
LOG_LOCK = threading.Lock()
COUNT_LOCK = threading.Lock()
FAILS = {}  # path -> 500s sent
CUTS = set()  # paths already cut once
REDIRECT_PORT = None
INDEXES = {}  # digest -> body of the indexes --index-depth made


def log(line):
    with LOG_LOCK:
        with open(ARGS.log, "a") as f:
            f.write(line + "\n")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that goes away mid-body (killed, or reconnecting after our
        # own cut) is part of the tests, not an error.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    listener = "main"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _log(self, status, note=""):
        auth = "yes" if self.headers.get("Authorization") else "no"
        rng = self.headers.get("Range") or "-"
        path = self.path.split("?", 1)[0]
        log(f"{self.listener} {self.command} {path} auth={auth} range={rng} -> {status}{' ' + note if note else ''}")

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else None

    def _simple(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _upstream(self, path, extra_auth=None):
        u = urllib.parse.urlsplit(ARGS.upstream)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        headers = {}
        for k, v in self.headers.items():
            if k.lower() in HOP or k.lower() == "content-length":
                continue
            if ARGS.ignore_range and k.lower() == "range":
                continue
            if extra_auth is not None and k.lower() in ("authorization", "host"):
                continue
            headers[k] = v
        if extra_auth is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(extra_auth.encode()).decode()
        body = self._read_body()
        if body is not None:
            headers["Content-Length"] = str(len(body))
        elif self.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = "0"
        conn.request(self.command, path, body=body, headers=headers)
        return conn, conn.getresponse()

    def _relay(self, resp, blob, note=""):
        """Send resp to our client; returns after the body (or the cut)."""
        data_len = resp.getheader("Content-Length")
        body = None
        slow_manifest = ARGS.manifest_rate and "/manifests/" in self.path
        if (data_len is None or slow_manifest) and self.command != "HEAD":
            body = resp.read()
            data_len = str(len(body))
        cut = False
        if blob and ARGS.cut and resp.status in (200, 206):
            with COUNT_LOCK:
                key = self.path
                if key not in CUTS:
                    CUTS.add(key)
                    cut = True
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() in HOP or k.lower() == "content-length":
                continue
            self.send_header(k, v)
        if data_len is not None:
            self.send_header("Content-Length", data_len)
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        self._log(resp.status, "cut" if cut else note)
        if self.command == "HEAD":
            return
        total = int(data_len or 0)
        limit = total // 2 if cut else total
        sent = 0
        start = time.monotonic()
        while sent < limit:
            if body is not None:
                chunk = body[sent:sent + 65536]
            else:
                chunk = resp.read(min(65536, limit - sent))
            if not chunk:
                break
            chunk = chunk[: limit - sent]
            if slow_manifest:
                chunk = chunk[:64]
            self.wfile.write(chunk)
            sent += len(chunk)
            rate = ARGS.rate if blob else (ARGS.manifest_rate if "/manifests/" in self.path else 0)
            if rate:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        if cut:
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _endless(self, status):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._log(status, "endless")
        chunk = b"x" * 65536
        try:
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            self.close_connection = True

    def _index_chain(self, path):
        """--index-depth: the index of `level` for a tag or a digest we made."""
        m = re.match(r"^/v2/(.+)/manifests/([^/]+)$", path.split("?", 1)[0])
        if m is None:
            return False
        repo, ref = m.group(1), m.group(2)
        if ref.startswith("sha256:") and ref not in INDEXES:
            return False
        if not ref.startswith("sha256:"):
            # The real manifest, then N indexes on top of it.
            conn, resp = self._upstream(path)
            body = resp.read()
            conn.close()
            if resp.status != 200:
                self._simple(resp.status, body)
                return True
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            child = (digest, len(body), resp.getheader("Content-Type"))
            top = None
            for level in range(ARGS.index_depth):
                doc = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                  "manifests": [{"mediaType": child[2], "digest": child[0], "size": child[1],
                                                 "platform": {"os": "linux", "architecture": "amd64"},
                                                 "annotations": {"level": str(level)}}]}).encode()
                d = "sha256:" + hashlib.sha256(doc).hexdigest()
                INDEXES[d] = doc
                child = (d, len(doc), "application/vnd.oci.image.index.v1+json")
                top = doc
            body = top
        else:
            body = INDEXES[ref]
        self._read_body()
        self._log(200, "index")
        self._simple(200, body, [("Content-Type", "application/vnd.oci.image.index.v1+json"),
                                 ("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())])
        return True

    def _handle(self):
        path = self.path
        blob = self.command == "GET" and BLOB_RE.match(path.split("?", 1)[0]) is not None
        if blob and ARGS.endless_404:
            self._read_body()
            self._endless(404)
            return
        if ARGS.disk_size_annotation and self.command == "GET" and "/manifests/" in path \
                and "/manifests/sha256:" not in path:
            conn, resp = self._upstream(path)
            body = resp.read()
            conn.close()
            doc = json.loads(body)
            doc.setdefault("annotations", {})["org.cirruslabs.tart.uncompressed-disk-size"] = \
                str(ARGS.disk_size_annotation)
            body = json.dumps(doc).encode()
            self._log(resp.status, "rewritten")
            self._simple(resp.status, body, [("Content-Type", resp.getheader("Content-Type"))])
            return
        if ARGS.index_depth and self.command in ("GET", "HEAD") and "/manifests/" in path:
            if self._index_chain(path):
                return
        if ARGS.upload_location and self.command == "POST" and path.split("?", 1)[0].endswith("/blobs/uploads/"):
            self._read_body()
            loc = ARGS.upload_location.replace("storage", f"http://127.0.0.1:{REDIRECT_PORT}/storage", 1) \
                if ARGS.upload_location.startswith("storage") else ARGS.upload_location
            self._log(202, "upload-location")
            self._simple(202, b"", [("Location", loc), ("Docker-Upload-UUID", "hostile")])
            return
        if blob and ARGS.fail:
            with COUNT_LOCK:
                n = FAILS.get(path, 0)
                FAILS[path] = n + 1
            if n < ARGS.fail:
                self._read_body()
                self._log(500, "injected")
                self._simple(500, b'{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}',
                             [("Content-Type", "application/json")])
                return
        if blob and ARGS.redirect:
            self._read_body()
            self._log(307, "redirect")
            self._simple(307, b"", [("Location", f"http://127.0.0.1:{REDIRECT_PORT}/storage{path}")])
            return
        try:
            conn, resp = self._upstream(path)
        except OSError as e:
            self._log(502, f"upstream: {e.__class__.__name__}")
            self._simple(502)
            return
        try:
            self._relay(resp, blob)
        finally:
            conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class StorageHandler(Handler):
    """The redirect target: serves /storage/v2/... from upstream with our own
    credentials, never the client's; with --upload-location it takes the
    upload and answers 201 without storing it."""
    listener = "storage"

    def _handle(self):
        if ARGS.upload_location and self.command in ("PATCH", "PUT"):
            self._read_body()
            self._log(201 if self.command == "PUT" else 202, "upload")
            self._simple(201 if self.command == "PUT" else 202, b"", [("Location", self.path)])
            return
        if not self.path.startswith("/storage/"):
            self._log(404)
            self._simple(404)
            return
        path = self.path[len("/storage"):]
        try:
            conn, resp = self._upstream(path, extra_auth=ARGS.upstream_auth or "")
        except OSError as e:
            self._log(502, f"upstream: {e.__class__.__name__}")
            self._simple(502)
            return
        try:
            self._relay(resp, False)
        finally:
            conn.close()

    do_GET = do_HEAD = do_PATCH = do_PUT = _handle


def main():
    global ARGS, REDIRECT_PORT
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--fail", type=int, default=0)
    p.add_argument("--cut", action="store_true")
    p.add_argument("--rate", type=int, default=0)
    p.add_argument("--redirect", action="store_true")
    p.add_argument("--upstream-auth", default=None)
    p.add_argument("--ignore-range", action="store_true")
    p.add_argument("--endless-404", action="store_true")
    p.add_argument("--index-depth", type=int, default=0)
    p.add_argument("--upload-location", default=None)
    p.add_argument("--manifest-rate", type=int, default=0)
    p.add_argument("--disk-size-annotation", type=int, default=0)
    ARGS = p.parse_args()
    open(ARGS.log, "a").close()

    servers = []
    main_srv = Server(("127.0.0.1", ARGS.port), Handler)
    servers.append(main_srv)
    if ARGS.redirect or ARGS.upload_location:
        st = Server(("127.0.0.1", 0), StorageHandler)
        REDIRECT_PORT = st.server_address[1]
        servers.append(st)
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(f"{main_srv.server_address[1]}\n")
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    stop.wait()
    for s in servers:
        s.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
