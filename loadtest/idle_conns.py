#!/usr/bin/env python3
"""Open N keep-alive connections to 127.0.0.1:PORT, make one request on each, then hold
them idle.

Writes "ready N" to --ready-file once every connection has had its response, then keeps the
sockets open until it is killed or --hold seconds pass (so it can never outlive the run).
"""
import argparse
import os
import resource
import selectors
import socket
import sys
import time


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed and (hard == resource.RLIM_INFINITY or hard > soft):
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def response_complete(data):
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    length = 0
    for line in data[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding":
            return data.endswith(b"0\r\n\r\n")
    return len(data) >= head_end + 4 + length


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--path", default="/100b")
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--hold", type=float, default=120.0)
    parser.add_argument("--batch", type=int, default=200, help="connections in flight at once")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    raise_fd_limit(args.count + 64)
    request = ("GET %s HTTP/1.1\r\nHost: loadtest\r\n\r\n" % args.path).encode()
    deadline = time.monotonic() + args.timeout
    sel = selectors.DefaultSelector()
    held = []
    pending = {}
    opened = 0
    while len(held) < args.count:
        while opened < args.count and len(pending) < args.batch:
            s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
            s.sendall(request)
            s.setblocking(False)
            pending[s] = b""
            sel.register(s, selectors.EVENT_READ)
            opened += 1
        if time.monotonic() > deadline:
            sys.exit("idle_conns: timed out with %d of %d connections answered"
                     % (len(held), args.count))
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("idle_conns: connection closed before its response")
            pending[s] += chunk
            if response_complete(pending[s]):
                if not pending[s].startswith(b"HTTP/1.1 200"):
                    sys.exit("idle_conns: bad response: %r" % pending[s][:100])
                sel.unregister(s)
                del pending[s]
                held.append(s)

    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("ready %d\n" % len(held))
    os.rename(tmp, args.ready_file)
    end = time.monotonic() + args.hold
    while time.monotonic() < end:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))


if __name__ == "__main__":
    main()
