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

Every request is logged to --log as one line:
  <listener> <METHOD> <path> auth=<yes|no> range=<value|-> -> <status> [<note>]
Never logs header values.  Runs until SIGTERM/SIGINT.  Standard library only.
"""

import argparse
import base64
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
        if data_len is None and self.command != "HEAD":
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
            self.wfile.write(chunk)
            sent += len(chunk)
            if blob and ARGS.rate:
                ahead = sent / ARGS.rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        if cut:
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _handle(self):
        path = self.path
        blob = self.command == "GET" and BLOB_RE.match(path.split("?", 1)[0]) is not None
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
    credentials, never the client's."""
    listener = "storage"

    def _handle(self):
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

    do_GET = do_HEAD = _handle


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
    ARGS = p.parse_args()
    open(ARGS.log, "a").close()

    servers = []
    main_srv = Server(("127.0.0.1", ARGS.port), Handler)
    servers.append(main_srv)
    if ARGS.redirect:
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
