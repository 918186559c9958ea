#!/usr/bin/env python3
"""Summarise loadtest results.

  summarize.py parse WRK_OUTPUT_FILE [CPU_TICKS CLK_TCK]
                                      -> prints "rps p50_us p99_us errors cpu_us_per_req"
  summarize.py table RESULTS_TSV       -> prints the per-round table, medians and ratios
  summarize.py memory MEMORY_TSV       -> prints the idle-connection memory table

RESULTS_TSV lines: target size round rps p50_us p99_us errors cpu_us_per_req
MEMORY_TSV lines:  target conns rss_before_kib rss_after_kib
"""
import re
import statistics
import sys

UNITS_US = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0, "m": 60_000_000.0}


def to_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return float("nan")
    return float(m.group(1)) * UNITS_US[m.group(2)]


def parse_wrk(path):
    text = open(path).read()
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    errors = 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        errors += int(non2xx.group(1))
    if not rps:
        return None
    return (float(rps.group(1)), to_us(p50.group(1)) if p50 else float("nan"),
            to_us(p99.group(1)) if p99 else float("nan"), errors)


def fmt_us(us):
    if us != us:  # NaN
        return "-"
    return "%.0fus" % us if us < 1000 else "%.2fms" % (us / 1000)


def table(path):
    rows = [line.split() for line in open(path) if line.strip()]
    targets, sizes, rounds = [], [], []
    data = {}
    for target, size, rnd, rps, p50, p99, errors, cpu in rows:
        for seq, value in ((targets, target), (sizes, size), (rounds, int(rnd))):
            if value not in seq:
                seq.append(value)
        data[(target, size, int(rnd))] = (float(rps), float(p50), float(p99), int(errors),
                                          float(cpu))
    rounds.sort()
    for size in sizes:
        print("\n== /%s ==" % size)
        header = "%-10s" % "target" + "".join("%28s" % ("round %d: req/s p50 p99" % r)
                                               for r in rounds)
        print(header + "%28s" % "median: req/s p50 p99" + "%10s" % "cpu us/req")
        medians = {}
        for target in targets:
            line = "%-10s" % target
            cells = [data[(target, size, r)] for r in rounds if (target, size, r) in data]
            for r in rounds:
                cell = data.get((target, size, r))
                if cell is None:
                    line += "%28s" % "-"
                    continue
                rps, p50, p99, errors, _ = cell
                mark = " !%d err" % errors if errors else ""
                line += "%28s" % ("%.0f %s %s%s" % (rps, fmt_us(p50), fmt_us(p99), mark))
            if cells:
                med = tuple(statistics.median(c[i] for c in cells) for i in (0, 1, 2, 4))
                medians[target] = med
                line += "%28s" % ("%.0f %s %s" % (med[0], fmt_us(med[1]), fmt_us(med[2])))
                line += "%10.1f" % med[3]
            print(line)
        if "meridian" in medians:
            base = medians["meridian"][0]
            for peer, med in medians.items():
                if peer != "meridian" and med[0] > 0:
                    print("meridian / %-8s req/s ratio (median): %.2f, proxy CPU per request: %.2f"
                          % (peer, base / med[0], medians["meridian"][3] / med[3]))
        elif len(medians) >= 2:
            names = list(medians)
            first = names[0]
            for peer in names[1:]:
                if medians[peer][0] > 0:
                    print("%s / %s req/s ratio (median): %.2f"
                          % (first, peer, medians[first][0] / medians[peer][0]))
    if any(d[3] for d in data.values()):
        print("\n! = wrk reported socket errors or non-2xx/3xx responses in that run")


def memory(path):
    print("\n== idle keep-alive connections: proxy RSS ==")
    print("%-10s %8s %14s %14s %12s" % ("target", "conns", "RSS before", "RSS after", "KiB/conn"))
    for line in open(path):
        if not line.strip():
            continue
        target, conns, before, after = line.split()
        conns, before, after = int(conns), int(before), int(after)
        print("%-10s %8d %11d KiB %11d KiB %12.2f"
              % (target, conns, before, after, (after - before) / conns if conns else 0))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "parse":
        # parse WRK_OUTPUT [CPU_TICKS CLK_TCK]: adds the proxy's CPU microseconds per request
        parsed = parse_wrk(path)
        if parsed is None:
            sys.exit(1)
        cpu_us = float("nan")
        if len(sys.argv) == 5:
            requests = re.search(r"^\s+(\d+) requests in", open(path).read(), re.M)
            if requests and int(requests.group(1)) > 0:
                cpu_us = int(sys.argv[3]) * 1e6 / int(sys.argv[4]) / int(requests.group(1))
        print("%.2f %.1f %.1f %d %.1f" % (parsed + (cpu_us,)))
    elif mode == "table":
        table(path)
    elif mode == "memory":
        memory(path)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
