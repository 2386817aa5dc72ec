#!/usr/bin/env python3
"""A small token server for the Docker/OCI registry token auth flow.

Test fixture only (see tests/cli/registry.bash).  Python standard library
plus the `openssl` command: tokens are RS256 JWTs signed with
`openssl dgst -sha256 -sign KEY`, and the JWT header carries the signing
certificate in "x5c" so that a registry configured with
auth.token.rootcertbundle = CERT accepts them.

    GET /token?service=S&scope=repository:NAME:pull,push[&scope=...][&account=A]

Policy:
  * Basic credentials that match --users: every requested scope is granted
    with exactly the requested actions.
  * No Authorization header (anonymous): each requested scope is granted
    with "pull" only (if "pull" was requested), never push/delete/"*".
  * Wrong credentials, or an Authorization header that is not Basic: 401.
  * A "service" parameter other than --service: 400.

Response: {"token", "access_token", "expires_in", "issued_at"}.

--log FILE appends one line per request:
    METHOD PATH?QUERY basic=yes|no user=NAME|- status=CODE
The password is never logged (query parameters whose name contains "pass",
"secret" or "token" are written as NAME=REDACTED).  SIGTERM ends the server with status 0.
"""

import argparse
import base64
import binascii
import datetime
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def cert_der_b64(cert_path):
    """The first certificate of a PEM file as standard base64 DER (x5c)."""
    lines, inside = [], False
    with open(cert_path) as f:
        for line in f:
            line = line.strip()
            if line == "-----BEGIN CERTIFICATE-----":
                inside = True
            elif line == "-----END CERTIFICATE-----":
                break
            elif inside:
                lines.append(line)
    if not lines:
        raise SystemExit("token-server: no certificate in %s" % cert_path)
    return "".join(lines)


class Signer:
    def __init__(self, key, cert):
        self.key = key
        self.x5c = cert_der_b64(cert)
        self.lock = threading.Lock()

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        proc = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", self.key],
            input=signing_input.encode("ascii"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            check=False,
        )
        if proc.returncode != 0 or not proc.stdout:
            raise RuntimeError("openssl dgst failed: %s" % proc.stderr.decode(errors="replace"))
        return signing_input + "." + b64url(proc.stdout)


def parse_scope(scope):
    """'repository:name:pull,push' -> ('repository', 'name', ['pull','push']).

    The name may itself contain ':' (never in practice for repositories, but
    the type and the action list are the first and last fields)."""
    first = scope.find(":")
    last = scope.rfind(":")
    if first < 0 or last == first:
        return None
    rtype = scope[:first]
    name = scope[first + 1:last]
    actions = [a for a in scope[last + 1:].split(",") if a]
    if not rtype or not name:
        return None
    return rtype, name, actions


SECRET_NAME = re.compile(r"(?i)pass|secret|token")


def redact(path):
    """The request target for the log: values of query parameters whose name
    looks secret (password=, refresh_token=, ...) are replaced, in case a
    client puts credentials in the URL."""
    base, sep, query = path.partition("?")
    if not sep:
        return path
    parts = []
    for item in query.split("&"):
        name, eq, _ = item.partition("=")
        parts.append(name + "=REDACTED" if eq and SECRET_NAME.search(name) else item)
    return base + "?" + "&".join(parts)


class Handler(BaseHTTPRequestHandler):
    server_version = "tart-test-token-server/1"
    protocol_version = "HTTP/1.0"

    # Set by main().
    cfg = None

    def log_message(self, fmt, *args):  # no stderr chatter
        pass

    def _log(self, basic, user, status):
        path = self.cfg.log
        if not path:
            return
        line = "%s %s basic=%s user=%s status=%d\n" % (
            self.command, redact(self.path), "yes" if basic else "no", user or "-", status)
        with self.cfg.log_lock:
            with open(path, "a") as f:
                f.write(line)

    def _reply(self, status, body, extra_headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status, code, message, basic, user, extra_headers=()):
        self._log(basic, user, status)
        self._reply(status, {"errors": [{"code": code, "message": message}]}, extra_headers)

    def _credentials(self):
        """-> (basic_present, user or None, ok).  ok False means reject."""
        auth = self.headers.get("Authorization")
        if auth is None:
            return False, None, True
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() != "basic":
            return False, None, False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return True, None, False
        user, sep, password = decoded.partition(":")
        if not sep:
            return True, None, False
        expected = self.cfg.users.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            return True, user, False
        return True, user, True

    def do_GET(self):
        url = urlsplit(self.path)
        basic, user, ok = self._credentials()
        if url.path not in ("/token", "/token/"):
            self._error(404, "NOT_FOUND", "no such endpoint", basic, user)
            return
        if not ok:
            self._error(401, "UNAUTHORIZED", "authentication required", basic, user,
                        [("WWW-Authenticate", 'Basic realm="tart-test-token-server"')])
            return
        query = parse_qs(url.query, keep_blank_values=True)
        service = query.get("service", [None])[-1]
        if service is not None and service != self.cfg.service:
            self._error(400, "INVALID_SERVICE", "unknown service %r" % service, basic, user)
            return
        access = []
        for raw in query.get("scope", []):
            # A client may also pack several scopes into one parameter,
            # separated by spaces (RFC 6749 style).
            for scope in raw.split(" "):
                if not scope:
                    continue
                parsed = parse_scope(scope)
                if parsed is None:
                    self._error(400, "INVALID_SCOPE", "malformed scope %r" % scope, basic, user)
                    return
                rtype, name, actions = parsed
                if user is None:  # anonymous: pull at most
                    actions = [a for a in actions if a == "pull"]
                granted = []
                for a in actions:
                    if a not in granted:
                        granted.append(a)
                access.append({"type": rtype, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": self.cfg.issuer,
            "sub": user or "",
            "aud": self.cfg.service,
            "exp": now + self.cfg.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        try:
            token = self.cfg.signer.sign(claims)
        except RuntimeError as e:
            self._error(500, "SIGNING_FAILED", str(e), basic, user)
            return
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        self._log(basic, user, 200)
        self._reply(200, {
            "token": token,
            "access_token": token,
            "expires_in": self.cfg.expires_in,
            "issued_at": issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
        })

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        # No OAuth2 POST endpoint: clients fall back to GET on 404/405.
        basic, user, _ = self._credentials()
        self._error(405, "UNSUPPORTED", "use GET /token", basic, user)


class Config:
    pass


def main(argv=None):
    p = argparse.ArgumentParser(description="registry token server (test fixture)")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", help="write the bound port here once listening")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--key", required=True, help="RSA private key (PEM)")
    p.add_argument("--cert", required=True, help="certificate for the key (PEM)")
    p.add_argument("--issuer", default="test-issuer")
    p.add_argument("--service", default="test-registry")
    p.add_argument("--users", action="append", default=[], metavar="USER:PASS",
                   help="accepted credentials; repeat for several users")
    p.add_argument("--expires-in", type=int, default=300)
    p.add_argument("--log", help="append one line per request to this file")
    args = p.parse_args(argv)

    cfg = Config()
    cfg.issuer = args.issuer
    cfg.service = args.service
    cfg.expires_in = args.expires_in
    cfg.log = args.log
    cfg.log_lock = threading.Lock()
    cfg.users = {}
    for entry in args.users:
        user, sep, password = entry.partition(":")
        if not sep or not user:
            p.error("--users wants USER:PASS")
        cfg.users[user] = password
    cfg.signer = Signer(args.key, args.cert)
    Handler.cfg = cfg

    server = ThreadingHTTPServer((args.bind, args.port), Handler)
    server.daemon_threads = True

    def on_term(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % server.server_address[1])
        os.rename(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
