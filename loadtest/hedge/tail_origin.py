#!/usr/bin/env python3
"""An app server with a slow tail, for the hedge scenario: it answers every GET with 200 after
--delay-ms, except every --stall-every-th request, answered after --stall-ms instead (every
20th: 5% of requests). Deterministic, so each proxy meets the same tail. HTTP/1.1 keep-alive,
no request bodies; a client that closes while its answer waits is simply forgotten.

    tail_origin.py PORT NAME [--delay-ms 10] [--stall-every 20] [--stall-ms 1000]
"""
import argparse
import asyncio


async def serve(reader, writer, args, counter):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                return
            counter[0] += 1
            stall = args.stall_every > 0 and counter[0] % args.stall_every == 0
            await asyncio.sleep((args.stall_ms if stall else args.delay_ms) / 1000)
            body = b"ok\n"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nx-region: %s\r\n"
                         b"x-stalled: %d\r\n\r\n%s" % (len(body), args.name.encode(), stall, body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("name")
    p.add_argument("--delay-ms", type=float, default=10)
    p.add_argument("--stall-every", type=int, default=20)
    p.add_argument("--stall-ms", type=float, default=1000)
    args = p.parse_args()
    counter = [0]
    server = await asyncio.start_server(lambda r, w: serve(r, w, args, counter), "127.0.0.1",
                                        args.port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
