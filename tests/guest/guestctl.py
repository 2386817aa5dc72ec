#!/usr/bin/env python3
"""Tiny QMP / QEMU guest agent client for tests/guest/boot-test.sh.

  guestctl.py qga-check SOCK [TIMEOUT]   guest-sync-delimited, then guest-exec of
                                         /bin/sh -c 'echo hi; exit 3'; checks
                                         exitcode 3 and stdout "hi\\n"
  guestctl.py qmp SOCK COMMAND [JSON]    qmp_capabilities, then COMMAND; prints
                                         the "return" value as JSON

Exit status 0 on success, 1 on failure (reason on stderr).
"""
import base64
import json
import random
import socket
import sys
import time


class Conn:
    def __init__(self, path, timeout):
        self.deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(max(0.1, timeout))
        self.sock.connect(path)
        self.buf = b""

    def send(self, obj, prefix=b""):
        self.sock.sendall(prefix + json.dumps(obj).encode() + b"\n")

    def _fill(self, until):
        left = min(until, self.deadline) - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out waiting for a reply")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed")
        self.buf += data

    def skip_to_sentinel(self, until):
        """Drop everything up to and including the 0xFF byte."""
        while True:
            i = self.buf.find(b"\xff")
            if i >= 0:
                self.buf = self.buf[i + 1:]
                return
            self.buf = b""
            self._fill(until)

    def read_json(self, until=None):
        """Next JSON object; QMP and qemu-ga end every message with a newline."""
        until = self.deadline if until is None else until
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                self._fill(until)
                continue
            line, self.buf = self.buf[:i].strip(), self.buf[i + 1:]
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue  # not JSON (e.g. a stray byte): skip the line
            if isinstance(obj, dict):
                return obj


def qga_sync(c):
    """guest-sync-delimited with a random id; skip stale replies."""
    while True:
        sid = random.randint(1, 2**31 - 1)
        # A leading 0xFF makes the agent drop any half-read request.
        c.send({"execute": "guest-sync-delimited", "arguments": {"id": sid}}, prefix=b"\xff")
        attempt_end = min(c.deadline, time.monotonic() + 5)
        try:
            while True:
                c.skip_to_sentinel(attempt_end)
                obj = c.read_json(attempt_end)
                if obj.get("return") == sid:
                    return
        except TimeoutError:
            if time.monotonic() >= c.deadline:
                raise
            # no answer yet: the agent may still be starting; try a new id


def qga_cmd(c, execute, arguments=None):
    msg = {"execute": execute}
    if arguments is not None:
        msg["arguments"] = arguments
    c.send(msg)
    obj = c.read_json()
    if "error" in obj:
        raise RuntimeError(f"{execute}: {obj['error']}")
    return obj.get("return")


def qga_check(path, timeout):
    t0 = time.monotonic()
    c = Conn(path, timeout)
    qga_sync(c)
    t_sync = time.monotonic() - t0
    pid = qga_cmd(c, "guest-exec", {
        "path": "/bin/sh", "arg": ["-c", "echo hi; exit 3"], "capture-output": True})["pid"]
    while True:
        st = qga_cmd(c, "guest-exec-status", {"pid": pid})
        if st.get("exited"):
            break
        time.sleep(0.05)
    out = base64.b64decode(st.get("out-data", ""))
    if st.get("exitcode") != 3 or out != b"hi\n":
        print(f"guest-exec: unexpected result {st!r} (out={out!r})", file=sys.stderr)
        return 1
    print(f"qga ok: sync {t_sync:.2f}s, exec exitcode=3 out={out!r}, total {time.monotonic() - t0:.2f}s")
    return 0


def qmp(path, command, args, timeout):
    c = Conn(path, timeout)
    greeting = c.read_json()
    if "QMP" not in greeting:
        raise RuntimeError(f"not a QMP greeting: {greeting!r}")
    c.send({"execute": "qmp_capabilities"})
    while "return" not in c.read_json():
        pass
    msg = {"execute": command}
    if args:
        msg["arguments"] = args
    c.send(msg)
    while True:
        obj = c.read_json()
        if "error" in obj:
            raise RuntimeError(f"{command}: {obj['error']}")
        if "return" in obj:
            print(json.dumps(obj["return"]))
            return 0


def main(argv):
    try:
        if len(argv) >= 3 and argv[1] == "qga-check":
            return qga_check(argv[2], float(argv[3]) if len(argv) > 3 else 30)
        if len(argv) >= 4 and argv[1] == "qmp":
            args = json.loads(argv[4]) if len(argv) > 4 else None
            return qmp(argv[2], argv[3], args, 10)
    except (OSError, RuntimeError, ValueError, KeyError, TimeoutError) as e:
        print(f"{argv[1]}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
