#!/usr/bin/env python3
"""Turns capacity.sh's results (RUN/capacity/results.tsv) into the markdown tables of
docs/resilience.md.

    python3 loadtest/lab/capacity_table.py results.tsv
"""
import sys

NAMES = {
    "meridian-nolimit": "Meridian, no limits",
    "meridian": "Meridian, limits, spill: soft",
    "meridian-hard": "Meridian, soft limit, twice as high hard, spill: hard",
    "meridian-distance": "Meridian, order: distance",
    "meridian-latency": "Meridian, order: latency",
    "nginx": "nginx",
    "haproxy": "HAProxy",
}


def ms(us):
    return "%.1f" % (int(us) / 1000)


def shares(text):
    counts = dict(kv.split("=") for kv in text.split(",") if "=" in kv)
    total = sum(int(v) for v in counts.values()) or 1
    return ", ".join("%s %d%%" % (k, round(100 * int(v) / total)) for k, v in sorted(counts.items()))


rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
a = [r for r in rows if r[0] == "A"]
if a:
    print("| target | clients | requests | errors (non-2xx + socket) | p50 ms | p99 ms | served by region | Meridian's counters |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for r in a:
        kv = dict(x.split("=", 1) for x in r[3].split() if "=" in x)
        errors = sum(int(kv.get(k, 0)) for k in ("non2xx", "connect", "read", "write", "timeout"))
        extra = r[4] if len(r) > 4 and r[4] != "-" else ""
        extra = "; ".join(x for x in extra.split(";") if x)
        print("| %s | %s | %s | %d | %s | %s | %s | %s |" % (
            NAMES.get(r[1], r[1]), r[2], kv.get("requests", "0"), errors, ms(kv.get("p50us", 0)),
            ms(kv.get("p99us", 0)), shares(kv.get("regions", "")), extra.replace("|", "/")))
    print()
b = [r for r in rows if r[0] == "B"]
if b:
    print("| target | phase | requests | errors | p50 ms | p99 ms | served by region |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for r in b:
        if r[2] == "phase":
            print("| %s | %s | %s | %s | %s | %s | %s |" % (
                NAMES.get(r[1], r[1]), r[3], r[4], r[5], r[6], r[7], shares(r[8])))
    print()
    print("| target | first request elsewhere (s after ams turned slow) | requests ams got after that while slow | last of them (s) | ams back (s after it recovered) | ams's share per second (%) |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    persec = {r[1]: r[3] for r in b if r[2] == "persec"}
    for r in b:
        if r[2] == "move":
            away, back, left, returned = r[3], r[4], r[7], r[8]
            print("| %s | %s | %s | %s | %s | %s |" % (
                NAMES.get(r[1], r[1]), left, returned if left != "never" else "-",
                away if left != "never" else "-", back, persec.get(r[1], "").replace(",", " ")))
