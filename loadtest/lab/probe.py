"""The lab's probe: one GET of /100b every 50 ms through a proxy, for SECONDS, each on a fresh
connection with a 5 s limit; prints one line per request: seconds since start, status (0: no
answer), the region that served it (x-region) and milliseconds taken."""
import http.client
import sys
import time

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
start = time.monotonic()
while time.monotonic() - start < seconds:
    t0 = time.monotonic()
    status, region = 0, "-"
    try:
        c = http.client.HTTPConnection(host, port, timeout=5)
        c.request("GET", "/100b")
        r = c.getresponse()
        r.read()
        status, region = r.status, r.getheader("x-region", "-")
        c.close()
    except (OSError, http.client.HTTPException):
        pass
    took = (time.monotonic() - t0) * 1000
    print("%.3f %d %s %.1f" % (t0 - start, status, region, took), flush=True)
    time.sleep(max(0.0, 0.05 - (time.monotonic() - t0)))
