#!/usr/bin/env python3
"""A time series of requests through a proxy, for the lab's slow-region scenario (capacity.sh).

    series.py HOST PORT SECONDS CONNS [PATH]

CONNS keep-alive connections, each sending GET PATH (default /x) one after another for SECONDS;
prints `# start EPOCH` (the wall clock at its start), then one line per request: seconds since start (when it was sent), status (0: no answer or a
broken connection, which is then opened again), the region that served it (x-region) and
milliseconds taken. A request gets at most 5 s.
"""
import asyncio
import sys
import time


async def client(host, port, path, deadline, start, out):
    reader = writer = None
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        status, region = 0, "-"
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
            writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: lab\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5 - (time.monotonic() - t0))
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"x-region":
                    region = value.strip().decode()
            if length:
                await asyncio.wait_for(reader.readexactly(length), 5)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError,
                IndexError, asyncio.LimitOverrunError):
            status = 0
            if writer is not None:
                writer.close()
            reader = writer = None
        out.append("%.3f %d %s %.1f" % (t0 - start, status, region, (time.monotonic() - t0) * 1000))
        if status == 0:
            await asyncio.sleep(0.05)  # a refused connect does not spin
    if writer is not None:
        writer.close()


async def main():
    host, port, seconds, conns = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    path = (sys.argv[5] if len(sys.argv) > 5 else "/x").encode()
    start = time.monotonic()
    print("# start %.3f" % time.time(), flush=True)
    out = []
    await asyncio.gather(*(client(host, port, path, start + seconds, start, out)
                           for _ in range(conns)))
    out.sort(key=lambda line: float(line.split()[0]))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
