#!/usr/bin/env python3
"""A closed-loop HTTP/1.1 client that reports the percentiles of each request's own latency.

wrk corrects its latency histogram for coordinated omission (a request that took 1 s adds
synthetic samples for the requests a fixed-rate client would have sent meanwhile), which is
what an open-loop client would see. This counts each request once, as it happened, so both
views can be shown. CONNS threads, each one keep-alive connection, for SECONDS.

    closed_loop.py PORT [--conns 16] [--seconds 10]
    prints: requests non200 errors p50_ms p90_ms p99_ms max_ms
"""
import argparse
import http.client
import threading
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10)
    args = p.parse_args()
    lock = threading.Lock()
    lat, counts = [], {"non200": 0, "errors": 0}
    end = time.monotonic() + args.seconds

    def run():
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=5)
        while time.monotonic() < end:
            t0 = time.monotonic()
            try:
                conn.request("GET", "/")
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException):
                with lock:
                    counts["errors"] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=5)
                continue
            took = time.monotonic() - t0
            with lock:
                lat.append(took)
                counts["non200"] += status != 200

    threads = [threading.Thread(target=run) for _ in range(args.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat.sort()
    n = len(lat)
    pick = lambda q: lat[min(n - 1, int(n * q))] * 1000 if n else float("nan")
    print("%d %d %d %.1f %.1f %.1f %.1f" % (n, counts["non200"], counts["errors"], pick(0.5),
                                           pick(0.9), pick(0.99), lat[-1] * 1000 if n else 0))


if __name__ == "__main__":
    main()
