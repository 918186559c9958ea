"""A WebSocket echo origin for the soak (Debian's python3-websockets): every message comes
back as it was sent. Usage: ws_echo.py PORT NAME. Runs until killed."""
import asyncio
import sys

import websockets


async def echo(ws, path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main():
    port = int(sys.argv[1])
    async with websockets.serve(echo, "127.0.0.1", port, max_size=1 << 20):
        await asyncio.Future()


asyncio.run(main())
