"""CPU per X API request: httpx.AsyncClient against aiohttp.ClientSession (not a row of the table).

    PYTHONPATH=src:. python -m benchmarks.x_client_cpu [requests] [rounds]

A local aiohttp server in another process answers a steady poll's timeline answer (no tweet, the
rate-limit headers); this process sends ``requests`` GETs with the timeline's parameters and a bearer
token, one at a time and 8 at once, through each client as the X client configures it, and prints the
CPU time of this process per request (the server's CPU is not counted). Both clients read and decode
the whole answer. Rounds alternate the clients, so a busy moment of the machine falls on both.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx

from nostrweet.twitter.api import TWEET_PARAMS

SERVER = """
import sys
from aiohttp import web
BODY = b'{"meta":{"result_count":0}}'
HEADERS = {"x-rate-limit-limit": "1500", "x-rate-limit-remaining": "1400", "x-rate-limit-reset": "1900000000"}
async def answer(request):
    return web.Response(body=BODY, content_type="application/json", headers=HEADERS)
app = web.Application()
app.router.add_get("/2/users/{id}/tweets", answer)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""
TOKEN = {"Authorization": "Bearer " + "t" * 100}


def _params(i: int) -> dict[str, str]:
    return dict(TWEET_PARAMS, max_results="100", since_id=str(1_800_000_000_000_000_000 + i))


async def _drive(one: Callable[[int], Awaitable[None]], requests: int, at_once: int) -> float:
    for i in range(20):  # warm: connections open, caches filled
        await one(i)
    gate = asyncio.Semaphore(at_once)

    async def gated(i: int) -> None:
        async with gate:
            await one(i)

    started = time.process_time()
    await asyncio.gather(*(gated(i) for i in range(requests)))
    return (time.process_time() - started) / requests * 1000


async def with_httpx(url: str, requests: int, at_once: int) -> float:
    timeout = httpx.Timeout(30.0, connect=10.0)
    async with httpx.AsyncClient(timeout=timeout, headers={"User-Agent": "nostrweet"}) as client:

        async def one(i: int) -> None:
            response = await client.get(url % i, params=_params(i), headers=TOKEN)
            json.loads(response.content)

        return await _drive(one, requests, at_once)


async def with_aiohttp(url: str, requests: int, at_once: int) -> float:
    timeout = aiohttp.ClientTimeout(total=None, connect=30.0, sock_connect=10.0, sock_read=30.0)
    async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": "nostrweet"}) as session:

        async def one(i: int) -> None:
            async with session.get(url % i, params=_params(i), headers=TOKEN) as response:
                json.loads(await response.content.read(1 << 20))

        return await _drive(one, requests, at_once)


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/2/users/%d/tweets"
        for _ in range(rounds):
            for name, run in (("httpx", with_httpx), ("aiohttp", with_aiohttp)):
                for at_once in (1, 8):
                    cpu = asyncio.run(run(url, requests, at_once))
                    print(f"{name:8s} {at_once} at once: {cpu:.3f} ms CPU per request", flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
