#!/usr/bin/env python3
"""The fleet at scale (docs/fleet.md): a 3-member etcd cluster on loopback, 3 real
`meridian run` instances and WATCHERS lightweight watchers (a watch stream each, as an
instance holds) on one prefix, ENDPOINTS registered endpoints under one lease. Measures:
the time for every instance to apply the registered endpoints; time from push to applied
(p50, p99 over PUSHES pushes x 3 instances, from the instances' log lines); etcd requests per
second and bytes in steady state (etcd's own counters, summed over members); CPU and RSS of
an instance in steady state.

    loadtest/fleet/scale.py [--watchers 100] [--endpoints 10000] [--pushes 20] [--steady 30]

Every port is picked at run time (bound and closed), every process started here is stopped
by PID at exit, every wait has a deadline. MERIDIAN=/path/to/meridian for another build;
KEEP_WORK=1 keeps the temp dir (configs, logs)."""
import argparse
import base64
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
MERIDIAN = os.environ.get("MERIDIAN", os.path.join(HERE, "..", "..", "build", "proxy", "meridian"))
PREFIX = "/meridian/scale/"
PROCS = []


def log(msg):
    print(f"[fleet-scale] {msg}", file=sys.stderr, flush=True)


def b64(s):
    return base64.b64encode(s.encode()).decode()


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def post(url, body, timeout=10):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def deadline_wait(pred, seconds, what):
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out: {what}")


def start(argv, out):
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    PROCS.append(p)
    return p


def stop_all():
    for p in reversed(PROCS):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in reversed(PROCS):
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def etcd_cluster(work):
    ports = free_ports(6)
    names = [f"m{i}" for i in range(3)]
    initial = ",".join(f"{n}=http://127.0.0.1:{ports[2*i+1]}" for i, n in enumerate(names))
    urls = []
    for i, n in enumerate(names):
        client, peer = f"http://127.0.0.1:{ports[2*i]}", f"http://127.0.0.1:{ports[2*i+1]}"
        urls.append(client)
        out = open(os.path.join(work, f"{n}.log"), "w")
        start(["etcd", "--name", n, "--data-dir", os.path.join(work, n),
               "--listen-client-urls", client, "--advertise-client-urls", client,
               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
               "--initial-cluster", initial, "--initial-cluster-state", "new",
               "--quota-backend-bytes", str(4 << 30)], out)

    def healthy():
        try:
            return all(json.loads(urllib.request.urlopen(u + "/health", timeout=1).read())
                       .get("health") == "true" for u in urls)
        except Exception:
            return False
    deadline_wait(healthy, 30, "etcd cluster healthy")
    return urls


def etcd_counters(urls):
    """RPCs handled and client bytes in/out, summed over the members."""
    rpcs = rx = tx = 0.0
    for u in urls:
        text = urllib.request.urlopen(u + "/metrics", timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith("grpc_server_handled_total{"):
                rpcs += float(line.rsplit(" ", 1)[1])
            elif line.startswith("etcd_network_client_grpc_received_bytes_total "):
                rx += float(line.rsplit(" ", 1)[1])
            elif line.startswith("etcd_network_client_grpc_sent_bytes_total "):
                tx += float(line.rsplit(" ", 1)[1])
    return rpcs, rx, tx


def fleet_yaml(weight_blue, upstream_port):
    return f"""regions:
  - {{ name: ams, lat: 52.37, lon: 4.90 }}
  - {{ name: fra, lat: 50.11, lon: 8.68 }}
  - {{ name: lhr, lat: 51.47, lon: -0.45 }}
clusters:
  - name: blue
    endpoints: [ {{ address: "127.0.0.1:{upstream_port}", region: ams }} ]
  - name: green
    endpoints: [ {{ address: "127.0.0.1:{upstream_port}", region: ams }} ]
  - name: apps
    endpoints: [ {{ address: "127.0.0.1:{upstream_port}", region: ams }} ]
routes:
  - name: app
    backends:
      - {{ cluster: blue, weight: {weight_blue} }}
      - {{ cluster: green, weight: {100 - weight_blue} }}
"""


def local_yaml(i, urls, upstream_port, cache):
    regions = ["ams", "fra", "lhr"]
    return f"""workers: 1
access_log: "off"
listeners:
  - {{ name: public, address: 127.0.0.1:0, region: {regions[i]} }}
admin: {{ address: 127.0.0.1:0 }}
{fleet_yaml(100, upstream_port)}fleet:
  etcd: [ {", ".join(urls[i:] + urls[:i])} ]
  prefix: {PREFIX}
  instance: inst-{i}
  cache: {cache}
"""


def watcher(url, stop, counter):
    """One watch stream on the fleet's range, as an instance opens it; bytes are discarded."""
    host, port = url[len("http://"):].split(":")
    body = json.dumps({"create_request": {"key": b64(PREFIX + "config"),
                                          "range_end": b64(PREFIX + "endpoints0")}}).encode()
    while not stop.is_set():
        try:
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"POST /v3/watch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            s.settimeout(1)
            while not stop.is_set():
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                counter[0] += len(data)
            s.close()
        except OSError:
            time.sleep(0.2)


def register(urls, n):
    lease = post(urls[0] + "/v3/lease/grant", {"TTL": "60"})["ID"]
    regions = ["ams", "fra", "lhr"]
    ops = []
    for i in range(n):
        key = f"{PREFIX}endpoints/apps/{regions[i % 3]}/10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:8080"
        ops.append({"request_put": {"key": b64(key), "value": b64("{}"), "lease": lease}})
    for at in range(0, len(ops), 100):  # etcd allows 128 operations per transaction
        post(urls[at // 100 % 3] + "/v3/kv/txn", {"success": ops[at:at + 100]})
    return lease


def rev_lines(path):
    """{revision: applied-at (Unix seconds)} from an instance's log."""
    out = {}
    try:
        text = open(path).read()
    except OSError:
        return out
    for line in text.splitlines():
        if "fleet: serving config revision " in line:
            ts = datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")
            at = ts.replace(tzinfo=datetime.timezone.utc).timestamp()
            out[int(line.rsplit(" ", 1)[1])] = at
    return out


def proc_cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def metric(admin, name):
    text = urllib.request.urlopen(f"http://{admin}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--endpoints", type=int, default=10000)
    ap.add_argument("--pushes", type=int, default=20)
    ap.add_argument("--steady", type=int, default=30)
    args = ap.parse_args()
    for tool in ("etcd", MERIDIAN):
        if not shutil.which(tool):
            raise SystemExit(f"missing: {tool} (bash scripts/setup; cmake --build build)")
    work = tempfile.mkdtemp(prefix="meridian-fleet-scale.")
    stop = threading.Event()
    try:
        urls = etcd_cluster(work)
        log(f"etcd: {','.join(urls)}")
        upstream_port = free_ports(1)[0]  # nothing listens: no traffic is sent in this run
        push_file = os.path.join(work, "push.yaml")
        open(push_file, "w").write(fleet_yaml(100, upstream_port))
        subprocess.run([MERIDIAN, "fleet", "push", "-c", push_file, "--etcd", ",".join(urls),
                        "--prefix", PREFIX], check=True, timeout=30, capture_output=True)
        instances = []
        for i in range(3):
            cfg = os.path.join(work, f"inst-{i}.yaml")
            open(cfg, "w").write(local_yaml(i, urls, upstream_port,
                                            os.path.join(work, f"cache-{i}.json")))
            ready = os.path.join(work, f"inst-{i}.ready")
            logf = os.path.join(work, f"inst-{i}.log")
            p = start([MERIDIAN, "run", "-c", cfg, "--ready-file", ready], open(logf, "w"))
            deadline_wait(lambda: os.path.exists(ready), 30, f"instance {i} ready")
            instances.append((p, json.load(open(ready))["admin"], logf))
        counters = [[0] for _ in range(args.watchers)]
        threads = [threading.Thread(target=watcher, args=(urls[w % 3], stop, counters[w]),
                                    daemon=True) for w in range(args.watchers)]
        for t in threads:
            t.start()
        log(f"{args.watchers} watchers, registering {args.endpoints} endpoints")
        t0 = time.time()
        lease = register(urls, args.endpoints)
        put_s = time.time() - t0
        deadline_wait(lambda: all(metric(a, "meridian_fleet_registered_endpoints") == args.endpoints
                                  for _, a, _ in instances), 300, "endpoints applied")
        applied_s = time.time() - t0
        keep = threading.Thread(target=lambda: [post(urls[0] + "/v3/lease/keepalive", {"ID": lease})
                                                for _ in iter(lambda: stop.wait(10), True)],
                                daemon=True)
        keep.start()

        log(f"steady state, {args.steady} s")
        before = etcd_counters(urls)
        cpu0 = [proc_cpu_seconds(p.pid) for p, _, _ in instances]
        time.sleep(args.steady)  # measuring an interval, not waiting for an event
        after = etcd_counters(urls)
        cpu1 = [proc_cpu_seconds(p.pid) for p, _, _ in instances]
        rss = [proc_rss_kib(p.pid) for p, _, _ in instances]

        log(f"{args.pushes} pushes")
        delays = []
        for n in range(args.pushes):
            open(push_file, "w").write(fleet_yaml(100 - 5 * (n % 20 + 1), upstream_port))
            sent = time.time()
            r = subprocess.run([MERIDIAN, "fleet", "push", "-c", push_file, "--etcd", ",".join(urls),
                                "--prefix", PREFIX], timeout=30, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(r.stderr)
            rev = int(r.stdout.split("revision ")[1].split()[0])
            deadline_wait(lambda: all(rev in rev_lines(lf) for _, _, lf in instances), 30,
                          f"push {rev} applied")
            delays += [(rev_lines(lf)[rev] - sent) * 1000 for _, _, lf in instances]
            time.sleep(0.5)  # spacing pushes apart, not synchronisation

        rpcs = (after[0] - before[0]) / args.steady
        rx = (after[1] - before[1]) / args.steady
        tx = (after[2] - before[2]) / args.steady
        print(f"registered endpoints: {args.endpoints} written in {put_s:.1f} s, "
              f"applied by every instance {applied_s:.1f} s after the first put")
        print(f"push to applied, {len(delays)} samples: p50 {statistics.median(delays):.0f} ms, "
              f"p99 {percentile(delays, 99):.0f} ms, max {max(delays):.0f} ms")
        print(f"etcd steady state ({args.watchers} watchers + 3 instances, over {args.steady} s): "
              f"{rpcs:.1f} requests/s, {rx:.0f} B/s in, {tx:.0f} B/s out (all members)")
        print("instance steady state: CPU " + ", ".join(f"{(b - a) / args.steady * 100:.2f}%"
                                                        for a, b in zip(cpu0, cpu1))
              + "; RSS " + ", ".join(f"{r / 1024:.1f} MiB" for r in rss))
        print(f"watchers received {sum(c[0] for c in counters)} bytes in all")
    finally:
        stop.set()
        stop_all()
        if os.environ.get("KEEP_WORK"):
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
