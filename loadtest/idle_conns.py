#!/usr/bin/env python3
"""Open N keep-alive connections to 127.0.0.1:PORT, make one request on each, then hold
them idle.

Writes "ready N" to --ready-file once every connection has had its response, then keeps the
sockets open until it is killed or --hold seconds pass (so it can never outlive the run).

With --tls each connection is TLS (HTTP/1.1 by ALPN, certificate not verified: the load test
makes its own); the handshakes are done one at a time, blocking, before the request is sent.
--handshake-only holds TLS connections that never send a request (a client that connects
ahead of need); --requests N sends N requests one after another on each connection before
holding it (a busy client that then goes quiet). --rcvbuf shrinks each socket's receive
buffer, so a large response waits in the server's buffers and is written out after the
server has finished with the request.

--h2 speaks HTTP/2 instead (prior knowledge on plain sockets, ALPN h2 with --tls): the
preface, an empty SETTINGS, one GET on stream 1, our ACK of the server's SETTINGS; the
connection is held once stream 1 has ended, as a browser holds its connection between pages.
"""
import argparse
import os
import resource
import selectors
import socket
import ssl
import struct
import sys
import time

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def h2_request(path):
    """Preface, SETTINGS and a GET on stream 1; HPACK from the static table and literals."""
    def literal(index, value):  # literal without indexing, name from the static table
        return bytes([index]) + bytes([len(value)]) + value
    block = (b"\x82\x86"  # :method GET, :scheme http
             + literal(0x04, path.encode())       # :path
             + literal(0x01, b"loadtest"))        # :authority
    return H2_PREFACE + h2_frame(4, 0, 0) + h2_frame(1, 0x5, 1, block)


def h2_progress(buf, sock):
    """Consumes whole frames from buf (a bytearray): ACKs the server's SETTINGS; True once
    stream 1 has ended (a frame on it with END_STREAM). Raises on GOAWAY or RST_STREAM."""
    done = False
    while len(buf) >= 9:
        length = int.from_bytes(buf[0:3], "big")
        if len(buf) < 9 + length:
            break
        kind, flags = buf[3], buf[4]
        stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
        del buf[:9 + length]
        if kind == 4 and not flags & 0x1:
            sock.setblocking(True)
            sock.sendall(h2_frame(4, 0x1, 0))
            sock.setblocking(False)
        elif kind in (3, 7):
            sys.exit("idle_conns: the server reset the stream or sent GOAWAY")
        elif kind in (0, 1) and stream == 1 and flags & 0x1:
            done = True
    return done


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


def connect(port, tls_context, rcvbuf=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: the window
    s.connect(("127.0.0.1", port))
    if tls_context is not None:
        s = tls_context.wrap_socket(s, server_hostname="localhost")  # handshakes here
    return s


def receive(s):
    """Bytes available on s, b"" at EOF, None when a TLS record is not complete yet."""
    try:
        return s.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--path", default="/100b")
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--hold", type=float, default=120.0)
    parser.add_argument("--batch", type=int, default=200, help="connections in flight at once")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--tls", action="store_true", help="TLS, certificate not verified")
    parser.add_argument("--handshake-only", action="store_true",
                        help="with --tls: hold each connection after its handshake, no request")
    parser.add_argument("--rcvbuf", type=int, default=0, help="SO_RCVBUF per socket (bytes)")
    parser.add_argument("--requests", type=int, default=1,
                        help="requests per connection, each sent once the last is answered")
    parser.add_argument("--h2", action="store_true", help="HTTP/2, one request per connection")
    args = parser.parse_args()
    if args.h2 and args.requests != 1:
        parser.error("--h2 makes one request per connection")
    if args.handshake_only and not args.tls:
        parser.error("--handshake-only needs --tls")

    tls_context = None
    if args.tls:
        tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls_context.check_hostname = False
        tls_context.verify_mode = ssl.CERT_NONE
        tls_context.set_alpn_protocols(["h2"] if args.h2 else ["http/1.1"])

    raise_fd_limit(args.count + 64)
    request = ("GET %s HTTP/1.1\r\nHost: loadtest\r\n\r\n" % args.path).encode()
    if args.h2:
        request = h2_request(args.path)
    deadline = time.monotonic() + args.timeout
    sel = selectors.DefaultSelector()
    held = []
    pending = {}
    answered = {}
    opened = 0
    while len(held) < args.count:
        while opened < args.count and len(pending) < args.batch:
            s = connect(args.port, tls_context, args.rcvbuf)
            opened += 1
            if args.handshake_only:
                held.append(s)
                continue
            s.sendall(request)
            s.setblocking(False)
            pending[s] = bytearray() if args.h2 else b""
            sel.register(s, selectors.EVENT_READ)
        if time.monotonic() > deadline:
            sys.exit("idle_conns: timed out with %d of %d connections answered"
                     % (len(held), args.count))
        for key, _ in (sel.select(timeout=1.0) if pending else ()):
            s = key.fileobj
            chunk = receive(s)
            while chunk and isinstance(s, ssl.SSLSocket) and s.pending():
                chunk += s.recv(s.pending())  # decrypted bytes the selector cannot see
            if chunk is None:
                continue
            if not chunk:
                sys.exit("idle_conns: connection closed before its response")
            pending[s] += chunk
            if args.h2:
                if h2_progress(pending[s], s):
                    sel.unregister(s)
                    del pending[s]
                    held.append(s)
                continue
            if response_complete(pending[s]):
                if not pending[s].startswith(b"HTTP/1.1 200"):
                    sys.exit("idle_conns: bad response: %r" % pending[s][:100])
                answered[s] = answered.get(s, 0) + 1
                if answered[s] < args.requests:
                    pending[s] = b""
                    s.setblocking(True)  # a short request: sent whole at once
                    s.sendall(request)
                    s.setblocking(False)
                    continue
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
