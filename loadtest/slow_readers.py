#!/usr/bin/env python3
"""Open N connections to 127.0.0.1:PORT, send one GET for a large response on each, and never
read it: slow readers, as a client on a stalled mobile link looks to a proxy.

Each socket's receive buffer is shrunk before it connects (--rcvbuf), so the kernel takes
only a little of the response on the client's side and the rest waits in the proxy. Writes
"ready N" to --ready-file once every request is sent, then holds the sockets until it is
killed or --hold seconds pass (so it can never outlive the run). On SIGTERM or at the end of
--hold it closes every socket (unread data makes each close a reset, as a client that gives
up does) and, with --closed-file, writes "closed N" there before it exits.
"""
import argparse
import os
import resource
import signal
import socket
import sys
import time


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed and (hard == resource.RLIM_INFINITY or hard > soft):
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class Stop(Exception):
    pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--path", default="/1m")
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--closed-file", default="")
    parser.add_argument("--rcvbuf", type=int, default=4096, help="SO_RCVBUF per socket (bytes)")
    parser.add_argument("--mss", type=int, default=1460,
                        help="TCP_MAXSEG, announced in the SYN (0: loopback's own, about 64 KiB)")
    parser.add_argument("--hold", type=float, default=120.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    def on_term(signo, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, on_term)
    raise_fd_limit(args.count + 64)
    request = ("GET %s HTTP/1.1\r\nHost: loadtest\r\n\r\n" % args.path).encode()
    deadline = time.monotonic() + args.timeout
    held = []
    try:
        for _ in range(args.count):
            if time.monotonic() > deadline:
                sys.exit("slow_readers: timed out with %d of %d connections" %
                         (len(held), args.count))
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)  # before connect
            if args.mss:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, args.mss)
            s.settimeout(10)
            s.connect(("127.0.0.1", args.port))
            s.sendall(request)
            held.append(s)
        write_atomically(args.ready_file, "ready %d\n" % len(held))
        end = time.monotonic() + args.hold
        while time.monotonic() < end:
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
    except Stop:
        pass
    for s in held:
        s.close()
    if args.closed_file:
        write_atomically(args.closed_file, "closed %d\n" % len(held))


if __name__ == "__main__":
    main()
