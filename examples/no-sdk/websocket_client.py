#!/usr/bin/env python3
"""Pushes from Chorus over uni_websocket with nothing but the `websockets` package (no Centrifugo SDK).

    pip install websockets          # or: apt-get install python3-websockets
    python3 websocket_client.py [--url ws://localhost:8000/connection/uni_websocket] [--token JWT] [--channel news:updates]

It sends one connect request, then only reads: the connect result, publications, pings (`{}`), and a
`disconnect` push before the server closes. It prints one JSON line per event. When the server says
"reconnect" (codes 3000-3499 and 4000-4499, e.g. 3001 on shutdown) it connects again after a pause, asking to
recover every channel from the last offset it saw, so no publication is missed or repeated while history
keeps them.
"""

import argparse
import asyncio
import json
import sys

import websockets


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def should_reconnect(code):
    """Centrifugo's rule: 3500-3999 and 4500-4999 mean "do not come back", and so does 1009 (message too big)."""
    return not (3500 <= code < 4000 or 4500 <= code < 5000 or code == 1009)


async def session(url, token, positions):
    """One connection; returns its disconnect code and whether it got connected."""
    request = {"subs": {channel: dict(pos, recover=bool(pos)) for channel, pos in positions.items()}}
    if token:
        request["token"] = token
    code = None
    connected = False
    try:
        # websockets answers the server's WebSocket pings by itself.
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps(request))
            async for message in ws:
                # One push per message (several, one per line, only with uni_websocket.join_push_messages).
                for line in message.splitlines():
                    push = json.loads(line)
                    if "connect" in push:
                        result = push["connect"]
                        connected = True
                        emit("connected", client=result["client"], channels=sorted(result.get("subs", {})))
                        for channel, sub in result.get("subs", {}).items():
                            # After a reconnect: what was missed meanwhile, in order.
                            for pub in sub.get("publications", []):
                                emit("publication", channel=channel, data=pub["data"], recovered=True)
                            if sub.get("recoverable"):
                                # Fields at their zero value are left out of the JSON.
                                positions[channel] = {"offset": sub.get("offset", 0), "epoch": sub.get("epoch", "")}
                    elif "pub" in push:
                        channel, pub = push["channel"], push["pub"]
                        if "offset" in pub:
                            positions.setdefault(channel, {})["offset"] = pub["offset"]
                        emit("publication", channel=channel, data=pub["data"])
                    elif "disconnect" in push:
                        code = push["disconnect"]["code"]
                        emit("disconnected", code=code, reason=push["disconnect"]["reason"])
                    # {} is a ping; join, leave, refresh … are ignored here.
    except websockets.ConnectionClosed as e:
        if code is None:
            code = e.rcvd.code if e.rcvd is not None else 1006
    except OSError as e:
        emit("unreachable", error=str(e))
        return 1006, False
    return (code if code is not None else 1000), connected


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="ws://localhost:8000/connection/uni_websocket")
    p.add_argument("--token", default="")
    p.add_argument("--channel", action="append", default=[], help="may be repeated (default: news:updates)")
    args = p.parse_args()
    positions = {channel: {} for channel in (args.channel or ["news:updates"])}
    pause = 1.0
    while True:
        code, connected = await session(args.url, args.token, positions)
        if not should_reconnect(code):
            emit("stopped", code=code)
            return 1
        if connected:
            pause = 1.0
        emit("reconnecting", code=code, seconds=pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, 30.0)  # backoff while the server cannot be reached


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        pass
