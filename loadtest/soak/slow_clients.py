"""Slow clients for the soak: N connections, each downloading /1m at about RATE bytes/s, one
after another until DURATION seconds have passed. Prints one SOAK-SLOW line: downloads
finished, short or failed."""
import socket
import sys
import threading
import time

host, port, n, rate, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
deadline = time.monotonic() + duration
done = {"full": 0, "short": 0, "failed": 0}
lock = threading.Lock()


def one():
    while time.monotonic() < deadline:
        got, kind = 0, "failed"
        try:
            with socket.create_connection((host, port), timeout=30) as s:
                s.sendall(b"GET /1m HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
                while time.monotonic() < deadline:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += len(chunk)
                    time.sleep(len(chunk) / rate)
                kind = "full" if got > 1048576 else ("short" if time.monotonic() >= deadline else "failed")
        except OSError:
            kind = "short" if time.monotonic() >= deadline else "failed"
        with lock:
            done[kind] += 1


threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join(max(0.0, deadline - time.monotonic()) + 35)
print("SOAK-SLOW full=%d cut_at_end=%d failed=%d" % (done["full"], done["short"], done["failed"]))
