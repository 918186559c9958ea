#!/usr/bin/env python3
"""Summarise loadtest results.

  summarize.py parse WRK_OUTPUT_FILE [CPU_TICKS CLK_TCK]
                                      -> prints "rps p50_us p99_us errors cpu_us_per_req"
  summarize.py table RESULTS_TSV       -> prints the per-round table, medians and ratios
  summarize.py memory MEMORY_TSV       -> prints the idle-connection memory table
  summarize.py slow SLOW_TSV           -> prints the slow-reader memory table
  summarize.py failover FAILOVER_TSV   -> prints the failover table (failover.sh)
  summarize.py capacity CAPACITY_TSV   -> the same table for capacity.sh
  summarize.py h2load H2LOAD_OUTPUT    -> prints "rps mean_us nan errors protocol"
  summarize.py tls TLS_TSV             -> prints the TLS table, medians and ratios
  summarize.py logcost RESULTS_TSV     -> prints the access log's cost (observability mode)
  summarize.py dashcost RESULTS_TSV ADMIN_TSV -> ten dashboards' cost (dashboard mode)
  summarize.py strace STRACE_C_OUTPUT TARGET CASE REQUESTS
                                      -> prints "target case name=calls_per_request..."
  summarize.py syscalls SYSCALLS_TSV  -> prints system calls per request (syscalls mode)

RESULTS_TSV lines: target size round rps p50_us p99_us errors cpu_us_per_req
ADMIN_TSV lines:   target size round main_thread_ticks clk_tck seconds
MEMORY_TSV lines:  target conns rss_before_kib rss_after_kib
SLOW_TSV lines:    target conns rss_before_kib rss_with_readers_kib rss_after_they_left_kib
                   temp_file_kib (open temporary files: nginx's proxy_buffering; 0 elsewhere)
TLS_TSV lines:     target kind round rps lat_us p99_us errors [protocol]
                   (kind: h2, https1 or handshakes; h2load gives a mean latency, no p99)
FAILOVER_TSV lines: target signal key=value... (requests ok non2xx connect read write timeout
                    p50us p99us maxus regions), as printed by failover/count.lua
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
        header = "%-13s" % "target" + "".join("%28s" % ("round %d: req/s p50 p99" % r)
                                               for r in rounds)
        print(header + "%28s" % "median: req/s p50 p99" + "%12s" % "cpu us/req")
        medians = {}
        for target in targets:
            line = "%-13s" % target
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
                line += "%12.1f" % med[3]
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


def parse_h2load(path):
    """rps, mean latency (us), nan, errors, protocol; None when h2load did not finish."""
    text = open(path).read()
    finished = re.search(r"^finished in \S+, ([\d.]+) req/s", text, re.M)
    reqs = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                     r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    if not finished or not reqs:
        return None
    mean = re.search(r"^time for request:\s+\S+\s+\S+\s+(\S+)", text, re.M)
    proto = re.search(r"^Application protocol: (\S+)", text, re.M)
    failed, timeouts = int(reqs.group(5)), int(reqs.group(7))
    return (float(finished.group(1)), to_us(mean.group(1)) if mean else float("nan"),
            float("nan"), failed + timeouts, proto.group(1) if proto else "none")


TLS_KINDS = (("h2", "h2 req/s (h2load)"), ("https1", "HTTPS/1.1 req/s (wrk)"),
             ("handshakes", "new TLS connections/s, one request each, sessions resumed (h2load --h1)"))


def tls(path):
    data, targets, rounds = {}, [], set()
    for line in open(path):
        f = line.split()
        if len(f) < 7:
            continue
        target, kind, rnd = f[0], f[1], int(f[2])
        if target not in targets:
            targets.append(target)
        rounds.add(rnd)
        data[(target, kind, rnd)] = (float(f[3]), float(f[4]), int(f[6]),
                                     f[7] if len(f) > 7 else "")
    rounds = sorted(rounds)
    for kind, title in TLS_KINDS:
        print("\n== TLS: %s ==" % title)
        print("%-10s" % "target" + "".join("%24s" % ("round %d" % r) for r in rounds)
              + "%12s" % "median")
        medians = {}
        for target in targets:
            line, good = "%-10s" % target, []
            for r in rounds:
                cell = data.get((target, kind, r))
                if cell is None:
                    line += "%24s" % "-"
                    continue
                rps, _, errors, proto = cell
                notes = []
                if errors:
                    notes.append("!%s err" % ("?" if errors < 0 else errors))
                if kind == "h2" and proto != "h2":
                    notes.append("proto %s" % proto)
                line += "%24s" % (("%.0f " % rps) + " ".join(notes))
                if not notes:
                    good.append(rps)
            if good:
                medians[target] = statistics.median(good)
                line += "%12.0f" % medians[target]
            else:
                line += "%12s" % "-"
            print(line)
        base = "meridian" if "meridian" in medians else (list(medians) or [None])[0]
        for peer, med in medians.items():
            if peer != base and med > 0:
                print("%s / %s (median): %.2f" % (base, peer, medians[base] / med))
    print("\n! = errors (failed requests, socket errors or h2load did not finish) or, for h2,"
          " another protocol than h2 negotiated: such runs are left out of the median")


def dashcost(results, admin):
    rps = {}
    for target, _, _, value, *_ in (line.split() for line in open(results) if line.strip()):
        rps.setdefault(target, []).append(float(value))
    cpu = {}
    for target, _, _, ticks, hz, secs in (line.split() for line in open(admin) if line.strip()):
        cpu.setdefault(target, []).append(100.0 * int(ticks) / int(hz) / float(secs))
    if "meridian" not in rps or "meridian-dash" not in rps:
        print("dashboard cost: not measured (a run is missing)")
        return
    off, on = statistics.median(rps["meridian"]), statistics.median(rps["meridian-dash"])
    print("dashboard cost: %.1f%% fewer req/s with ten dashboards open (median %.0f vs %.0f;"
          " per round without: %s, with: %s)" % (
              (1 - on / off) * 100 if off else float("nan"), on, off,
              " ".join("%.0f" % v for v in rps["meridian"]),
              " ".join("%.0f" % v for v in rps["meridian-dash"])))
    for target in ("meridian", "meridian-dash"):
        if target in cpu:
            print("admin thread CPU, %s: %s %% of one core per round (median %.2f %%)" % (
                "without dashboards" if target == "meridian" else "ten dashboards",
                " ".join("%.2f" % v for v in cpu[target]), statistics.median(cpu[target])))


def logcost(path):
    rows = [line.split() for line in open(path) if line.strip()]
    rps = {}
    for target, _, _, value, *_ in rows:
        rps.setdefault(target, []).append(float(value))
    if "meridian" not in rps or "meridian-log" not in rps:
        print("access log cost: not measured (a run is missing)")
        return
    off, on = statistics.median(rps["meridian"]), statistics.median(rps["meridian-log"])
    print("access log cost: %.1f%% fewer req/s with the log to a file (median %.0f vs %.0f;"
          " target < 8%%)" % ((1 - on / off) * 100 if off else float("nan"), on, off))


def memory(path, title="idle keep-alive connections"):
    print("\n== %s: proxy RSS ==" % title)
    print("%-10s %8s %14s %14s %12s" % ("target", "conns", "RSS before", "RSS after", "KiB/conn"))
    for line in open(path):
        if not line.strip():
            continue
        target, conns, before, after = line.split()
        conns, before, after = int(conns), int(before), int(after)
        print("%-10s %8d %11d KiB %11d KiB %12.2f"
              % (target, conns, before, after, (after - before) / conns if conns else 0))


def slow(path):
    print("\n== slow readers: GET /1m, never read (client SO_RCVBUF 4 KiB): proxy RSS ==")
    print("%-10s %7s %12s %14s %10s %14s %12s"
          % ("target", "conns", "RSS before", "with readers", "KiB/conn", "after they left",
             "temp files"))
    for line in open(path):
        if not line.strip():
            continue
        target, conns, before, during, gone, spilled = line.split()
        conns, before, during, gone, spilled = (int(conns), int(before), int(during), int(gone),
                                                int(spilled))
        print("%-10s %7d %8d KiB %10d KiB %10.1f %10d KiB %8d KiB"
              % (target, conns, before, during, (during - before) / conns if conns else 0, gone,
                 spilled))


def failover(path, title="failover: nearest region killed, then restarted", column="signal"):
    print("\n== %s ==" % title)
    print("%-16s %-8s %9s %8s %22s %9s %9s %9s  %s"
          % ("target", column, "requests", "non-2xx", "socket errors", "p50", "p99", "max",
             "served by region"))
    for line in open(path):
        if not line.strip():
            continue
        target, signal, *pairs = line.split()
        f = dict(p.split("=", 1) for p in pairs)
        sock = sum(int(f[k]) for k in ("connect", "read", "write", "timeout"))
        detail = "c%s r%s w%s t%s" % (f["connect"], f["read"], f["write"], f["timeout"])
        print("%-16s %-8s %9s %8s %22s %9s %9s %9s  %s"
              % (target, signal, f["requests"], f["non2xx"],
                 "%d (%s)" % (sock, detail) if sock else "0", fmt_us(float(f["p50us"])),
                 fmt_us(float(f["p99us"])), fmt_us(float(f["maxus"])), f.get("regions", "")))
    print("socket errors: c = connect, r = read, w = write, t = timeout (wrk's counts)")


def strace_counts(path, target, case, requests):
    """One line: the target, the case and each system call's count per request (strace -c)."""
    counts = {}
    for line in open(path):
        fields = line.split()
        # "% time seconds usecs/call calls [errors] syscall"; the total line names "total"
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
            counts[fields[-1]] = int(fields[3])
    per = " ".join("%s=%.2f" % (name, n / requests) for name, n in sorted(counts.items()))
    print("%s %s %s" % (target, case, per))


def syscalls(path):
    rows = [line.split() for line in open(path) if line.strip()]
    for case in dict.fromkeys(row[1] for row in rows):
        print("\n== %s: system calls per request ==" % case)
        for target, _, *pairs in (r for r in rows if r[1] == case):
            calls = {k: float(v) for k, v in (p.split("=", 1) for p in pairs)}
            # epoll_wait (and HAProxy's epoll_pwait) is the loop's wait, counted apart from work
            waits = sum(v for k, v in calls.items() if k.startswith("epoll_wait")
                        or k.startswith("epoll_pwait"))
            top = sorted(calls.items(), key=lambda kv: -kv[1])
            print("%-10s total %6.2f (waits %5.2f)  %s"
                  % (target, sum(calls.values()), waits,
                     " ".join("%s %.2f" % kv for kv in top if kv[1] >= 0.05)))


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
        memory(path, *sys.argv[3:4])
    elif mode == "slow":
        slow(path)
    elif mode == "h2load":
        parsed = parse_h2load(path)
        if parsed is None:
            sys.exit(1)
        print("%.2f %.1f %.1f %d %s" % parsed)
    elif mode == "tls":
        tls(path)
    elif mode == "logcost":
        logcost(path)
    elif mode == "dashcost":
        dashcost(path, sys.argv[3])
    elif mode == "failover":
        failover(path)
    elif mode == "strace":
        strace_counts(path, sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif mode == "syscalls":
        syscalls(path)
    elif mode == "capacity":
        failover(path, "capacity: the nearest region overloaded", "scenario")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
