"""WebSocket clients for the soak, through the proxy (Debian's python3-websockets).

    ws_clients.py HOST PORT N DURATION

N clients, each in a loop until DURATION seconds have passed: open ws://HOST:PORT/ws, send a
numbered 64-byte message every 250 ms and wait for its echo (5 s at most), close the session
normally after 30 s, open the next. A session the proxy or the origin ends (a reload or a
binary upgrade must not), a failed handshake, a late or wrong echo is an error. Prints one
SOAK-WS line: sessions, messages echoed, errors (by kind)."""
import asyncio
import sys
import time

import websockets

host, port, n, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + duration
counts = {"sessions": 0, "messages": 0}
errors = {}


def error(kind):
    errors[kind] = errors.get(kind, 0) + 1


async def client(i):
    seq = 0
    while time.monotonic() < deadline:
        try:
            async with websockets.connect(f"ws://{host}:{port}/ws", open_timeout=10,
                                          close_timeout=5, ping_interval=None) as ws:
                counts["sessions"] += 1
                session_end = min(deadline, time.monotonic() + 30)
                while time.monotonic() < session_end:
                    seq += 1
                    message = f"client {i} message {seq} ".ljust(64, ".")
                    await ws.send(message)
                    got = await asyncio.wait_for(ws.recv(), timeout=5)
                    if got != message:
                        error("mismatch")
                    else:
                        counts["messages"] += 1
                    await asyncio.sleep(0.25)
        except asyncio.TimeoutError:
            error("timeout")
        except websockets.ConnectionClosed:
            error("closed")
        except (OSError, websockets.InvalidHandshake, websockets.InvalidURI) as e:
            error(type(e).__name__)
            await asyncio.sleep(0.5)


async def main():
    await asyncio.gather(*(client(i) for i in range(n)))


asyncio.run(main())
detail = ",".join(f"{k}={v}" for k, v in sorted(errors.items())) or "none"
print(f"SOAK-WS sessions={counts['sessions']} messages={counts['messages']} "
      f"errors={sum(errors.values())} ({detail})")
