#!/usr/bin/env python3
"""Log in to a VNC server as Packer's go-vnc client does (RFB 3.8, VNC
authentication with the password from tart's vnc:// URL) and print the
framebuffer size from ServerInit.  DES comes from openssl's legacy
provider: Python has no DES of its own.

Usage: vnc-auth.py HOST PORT PASSWORD  (exit 0: logged in)"""
import socket
import struct
import subprocess
import sys


def des_ecb(key: bytes, data: bytes) -> bytes:
    # VNC uses the password's bytes with each byte's bits reversed as the key.
    k = bytes(int(f"{b:08b}"[::-1], 2) for b in key.ljust(8, b"\0")[:8])
    return subprocess.run(
        ["openssl", "enc", "-des-ecb", "-nopad", "-K", k.hex(), "-provider", "legacy", "-provider", "default"],
        input=data, capture_output=True, check=True).stdout


def recv(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            sys.exit(f"vnc-auth: the server closed the connection after {len(b)} of {n} bytes")
        b += c
    return b


def main():
    host, port, password = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
    s = socket.create_connection((host, port), timeout=10)
    version = recv(s, 12)
    if not version.startswith(b"RFB 003."):
        sys.exit(f"vnc-auth: not an RFB server: {version!r}")
    s.sendall(b"RFB 003.008\n")
    n = recv(s, 1)[0]
    types = recv(s, n)
    if 2 not in types:
        sys.exit(f"vnc-auth: no VNC authentication offered: {list(types)}")
    s.sendall(b"\x02")
    s.sendall(des_ecb(password, recv(s, 16)))
    if struct.unpack(">I", recv(s, 4))[0] != 0:
        sys.exit("vnc-auth: the password was refused")
    s.sendall(b"\x01")  # ClientInit: shared
    w, h = struct.unpack(">HH", recv(s, 4))
    print(f"{w}x{h}")


main()
