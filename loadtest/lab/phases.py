#!/usr/bin/env python3
"""Summarises a series.py time series around a fault window, for capacity.sh's slow region.

    phases.py SERIES ON OFF [REGION]

ON and OFF: the fault window, as wall-clock seconds (date +%s.%N); SERIES starts with
`# start EPOCH`, its times are seconds from then.

Prints tab-separated lines:
  phase NAME requests errors p50ms p99ms regions     for before, during and after the window
  move away_s back_s at_s end_s left_s returned       REGION (default ams) losing and winning back its traffic
  persec SHARE,SHARE,...                             REGION's share (%) of each second's requests
errors: no answer or a status other than 2xx. left_s: from the window's start to the first
request another region served; returned: requests REGION served after that, inside the window
(traffic coming back to a region that is still slow). away_s: from the window's start to the last
request REGION served inside it ("never" when REGION served until its end); back_s: from the
window's end to the start of the first second from which REGION serves at least 90% of every
second's requests, to REGION's first request in it ("never" when it does not, "-" when REGION
never lost its traffic).
"""
import sys


def pct(values, q):
    if not values:
        return "-"
    values = sorted(values)
    return "%.1f" % values[min(len(values) - 1, int(q / 100 * len(values)))]


def regions(rows):
    counts = {}
    for _, _, r, _ in rows:
        counts[r] = counts.get(r, 0) + 1
    return ",".join("%s=%d" % kv for kv in sorted(counts.items())) or "none"


def main():
    path, on, off = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    home = sys.argv[4] if len(sys.argv) > 4 else "ams"
    rows = []
    at = dur = None
    for line in open(path):
        f = line.split()
        if f[:2] == ["#", "start"]:
            at, dur = on - float(f[2]), off - on
        elif len(f) == 4:
            rows.append((float(f[0]), int(f[1]), f[2], float(f[3])))
    end = at + dur
    phases = [("before", 0, at), ("during", at, end), ("after", end, float("inf"))]
    for name, lo, hi in phases:
        part = [r for r in rows if lo <= r[0] < hi]
        errors = sum(1 for _, s, _, _ in part if not 200 <= s < 300)
        ms = [m for _, s, _, m in part if 200 <= s < 300]
        print("phase\t%s\t%d\t%d\t%s\t%s\t%s" % (name, len(part), errors, pct(ms, 50), pct(ms, 99),
                                             regions(part)))
    served = [t for t, s, r, _ in rows if at <= t < end and r == home]
    elsewhere = [t for t, s, r, _ in rows if at <= t < end and s and r != home]
    left = min(elsewhere, default=None)
    # Requests REGION still got inside the window after the first one went elsewhere.
    returned = sum(1 for t in served if left is not None and t > left)
    last = max(served, default=None)
    away = "%.1f" % (last - at) if last is not None and last < end - 1 else (
        "never" if last is not None else "0.0")
    seconds = int(rows[-1][0]) + 1 if rows else 0
    share = []
    for s in range(seconds):
        part = [r for t, _, r, _ in rows if s <= t < s + 1]
        share.append(100 * sum(1 for r in part if r == home) // len(part) if part else -1)
    back = "-" if away == "never" else "never"
    for s in range(int(end), seconds):
        if away != "never" and all(x >= 90 for x in share[s:]):
            first = min((t for t, _, r, _ in rows if t >= max(s, end) and r == home), default=None)
            back = "%.1f" % (first - end) if first is not None else "never"
            break
    print("move\t%s\t%s\t%.1f\t%.1f\t%s\t%d" % (away, back, at, end,
                                                "%.1f" % (left - at) if left is not None else "never",
                                                returned))
    print("persec\t%s" % ",".join(str(x) for x in share))


if __name__ == "__main__":
    main()
