#!/usr/bin/env python3
"""What a fleet-wide Idempotency-Key costs (docs/fleet.md): a 3-member etcd cluster on
loopback, one `meridian run` instance (one worker) in front of nginx answering 201, and wrk
sending POSTs that each carry a new Idempotency-Key, first with the route's
`idempotency: {store: local}`, then `{store: fleet}`. Prints, for each: requests per second,
wrk's latency p50 and p99, and the etcd requests the run made (etcd's own counters, summed
over members).

    loadtest/fleet/idempotency.py [--seconds 10] [--connections 16]

Every port is picked at run time, every process started here is stopped by PID at exit, every
wait has a deadline. MERIDIAN=/path/to/meridian for another build; KEEP_WORK=1 keeps the temp
dir (configs, logs)."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import (MERIDIAN, deadline_wait, etcd_counters, etcd_cluster,  # noqa: E402
                   free_ports, log, metric, start, stop_all)

PREFIX = "/meridian/idem/"

WRK_LUA = """
local n = 0
local tag = os.time() .. "-" .. math.random(1000000)
function setup(thread)
  thread:set("id", tostring(math.random(1000000000)))
end
function request()
  n = n + 1
  return wrk.format("POST", "/orders", {["Host"] = "app", ["Content-Length"] = "1",
                    ["Idempotency-Key"] = tag .. "-" .. id .. "-" .. n}, "x")
end
"""


def fleet_yaml(store, upstream_port):
    return f"""regions:
  - {{ name: ams, lat: 52.37, lon: 4.90 }}
clusters:
  - name: orders
    endpoints: [ {{ address: "127.0.0.1:{upstream_port}", region: ams }} ]
routes:
  - name: app
    backends: [ {{ cluster: orders }} ]
    idempotency: {{ store: {store} }}
"""


def nginx_conf(work, port):
    return f"""worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx.err;
daemon off;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}/nginx-body;
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 201 '{{"order":1}}'; }}
  }}
}}
"""


def wrk(port, seconds, connections, script):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", script, f"http://127.0.0.1:{port}/orders"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat.get("50"), lat.get("99"), int(non2xx.group(1)) if non2xx else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    for tool in ("etcd", "nginx", "wrk", MERIDIAN):
        if not shutil.which(tool):
            raise SystemExit(f"missing: {tool}")
    work = tempfile.mkdtemp(prefix="meridian-fleet-idem.")
    try:
        urls = etcd_cluster(work)
        upstream_port = free_ports(1)[0]
        open(os.path.join(work, "nginx.conf"), "w").write(nginx_conf(work, upstream_port))
        start(["nginx", "-c", os.path.join(work, "nginx.conf"), "-p", work],
              open(os.path.join(work, "nginx.log"), "w"))
        script = os.path.join(work, "keys.lua")
        open(script, "w").write(WRK_LUA)
        push_file = os.path.join(work, "push.yaml")

        def push(store):
            open(push_file, "w").write(fleet_yaml(store, upstream_port))
            subprocess.run([MERIDIAN, "fleet", "push", "-c", push_file, "--etcd", ",".join(urls),
                            "--prefix", PREFIX], check=True, timeout=30, capture_output=True)

        push("local")
        cfg = os.path.join(work, "inst.yaml")
        open(cfg, "w").write(f"""workers: 1
access_log: "off"
listeners:
  - {{ name: public, address: 127.0.0.1:0, region: ams }}
admin: {{ address: 127.0.0.1:0 }}
{fleet_yaml("local", upstream_port)}fleet:
  etcd: [ {", ".join(urls)} ]
  prefix: {PREFIX}
  instance: idem-0
""")
        ready = os.path.join(work, "inst.ready")
        start([MERIDIAN, "run", "-c", cfg, "--ready-file", ready],
              open(os.path.join(work, "inst.log"), "w"))
        deadline_wait(lambda: os.path.exists(ready), 30, "instance ready")
        info = json.load(open(ready))
        admin = info["admin"]
        port = int(next(iter(info["listeners"].values())).rsplit(":", 1)[1])
        for store in ("local", "fleet"):
            if store != "local":
                revision = metric(admin, "meridian_fleet_config_revision")
                push(store)
                deadline_wait(lambda: metric(admin, "meridian_fleet_config_revision") != revision,
                              10, f"store: {store} applied")
            before = etcd_counters(urls)
            rps, p50, p99, bad = wrk(port, args.seconds, args.connections, script)
            after = etcd_counters(urls)
            etcd_rps = (after[0] - before[0]) / args.seconds
            fallbacks = metric(admin, 'meridian_fleet_fallbacks_total{what="idempotency"}')
            print(f"store: {store:5}  {rps:8.0f} requests/s  p50 {p50}  p99 {p99}  "
                  f"non-2xx {bad}  etcd {etcd_rps:.0f} requests/s  fallbacks {fallbacks:.0f}")
    finally:
        stop_all()
        if os.environ.get("KEEP_WORK"):
            log(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
