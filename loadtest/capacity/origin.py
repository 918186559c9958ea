#!/usr/bin/env python3
"""One region's app with a fixed capacity, for loadtest/capacity.sh.

    origin.py --port PORT --region NAME --capacity N --service-ms MS [--control FILE]

An HTTP/1.1 keep-alive server that answers every request after MS milliseconds of "work",
at most N at a time: the rest wait in line, as an app whose worker pool is full. Each answer
carries `x-region: NAME`, so the load generator can count who served what. Runs until killed.

--control FILE (the lab's slow region): the file holds a number of milliseconds, read every
100 ms, by which every answer is held after its work, outside the N slots: the region turns
slower (a slower link or dependency) without losing capacity. Empty or absent: 0.
"""
import argparse
import asyncio
import os


async def serve(reader, writer, args, slots):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            async with slots:
                await asyncio.sleep(args.service_ms / 1000)
            if args.extra_ms:
                await asyncio.sleep(args.extra_ms / 1000)
            body = b"ok from " + args.region.encode() + b"\n"
            writer.write(b"HTTP/1.1 200 OK\r\nx-region: " + args.region.encode() +
                         b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def watch_control(args):
    while True:
        try:
            with open(args.control) as f:
                text = f.read().strip()
            args.extra_ms = float(text) if text else 0.0
        except (OSError, ValueError):
            args.extra_ms = 0.0
        await asyncio.sleep(0.1)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--capacity", type=int, required=True)
    p.add_argument("--service-ms", type=float, required=True)
    p.add_argument("--control")
    args = p.parse_args()
    args.extra_ms = 0.0
    watcher = asyncio.create_task(watch_control(args)) if args.control else None  # noqa: F841
    slots = asyncio.Semaphore(args.capacity)
    server = await asyncio.start_server(lambda r, w: serve(r, w, args, slots), "127.0.0.1",
                                        args.port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
