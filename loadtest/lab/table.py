"""Turns faults.sh's tab-separated results into the markdown table of docs/resilience.md.

    python3 loadtest/lab/table.py results.tsv
"""
import csv
import sys

NAMES = {
    "1": "1 origin gone (RST)",
    "2": "2 black-holed (nftables drop)",
    "3": "3 heads, then stall",
    "4": "4 300 ms slower",
    "5": "5 flapping 2 s / 2 s",
    "6": "6 gray: half 503, checks pass",
    "7": "7 accept queue overflow",
    "8": "8 reloads every 1 s during 5",
}

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
links = sorted({r["link"] for r in rows})
print("Delay by: %s (the kernel has %s netem)." % (
    ", ".join("delay_relay" if l == "relay" else "netem" for l in links),
    "no" if links == ["relay"] else "a"))
print()
print("| fault | proxy | requests | client errors (non-2xx + socket) | p50 ms | p99 ms "
      "| replays | probe failures | felt s | recovered s | downloads ok / cut "
      "| WebSocket sessions / errors |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    if r["replays"].startswith("-") and r["replays"] != "-":
        r["replays"] = "n/a (upgrade)"  # the counter starts over in the upgraded process
    errors = int(r["non2xx"] or 0) + int(r["sockerr"] or 0)
    ws = "%s / %s" % (r["ws_sessions"], r["ws_errors"]) if r.get("ws_sessions") else "-"
    print("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s / %s | %s |" % (
        NAMES.get(r["fault"], r["fault"]), r["proxy"], r["requests"], errors, r["p50ms"],
        r["p99ms"], r["replays"], r["probe_bad"], r["felt_s"], r["recover_s"], r["dl_ok"],
        r["dl_bad"], ws))
