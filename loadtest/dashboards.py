#!/usr/bin/env python3
"""Ten open dashboards, as the proxy sees them: N pollers each GET /dashboard/state once a
second from the admin address, as the page does (with the Host the page sends). Runs until
killed, or for at most --seconds. Prints how many polls answered 200 and how many did not.

    dashboards.py ADMIN_HOST:PORT [--count 10] [--seconds 600]
"""
import argparse
import http.client
import signal
import threading
import time


def poller(admin, stop, counts, index):
    host, port = admin.rsplit(":", 1)
    # Spread the pollers over the second, as pages opened at different times are.
    next_at = time.monotonic() + index * 0.1
    conn = None
    while not stop.is_set():
        delay = next_at - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        next_at += 1.0
        try:
            # The admin API answers one request per connection, as for a browser's fetch.
            conn = http.client.HTTPConnection(host, int(port), timeout=3)
            conn.request("GET", "/dashboard/state", headers={"Host": admin})
            ok = conn.getresponse().status == 200
            conn.close()
        except OSError:
            ok = False
        counts[ok] += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("admin")
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=600)
    args = ap.parse_args()
    stop = threading.Event()
    counts = {True: 0, False: 0}
    threads = [threading.Thread(target=poller, args=(args.admin, stop, counts, i), daemon=True)
               for i in range(args.count)]
    # stop_pid's SIGTERM ends the run cleanly, so the counts are printed.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    for t in threads:
        t.start()
    try:
        stop.wait(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        print("dashboard polls: %d ok, %d failed" % (counts[True], counts[False]), flush=True)


if __name__ == "__main__":
    main()
