#!/usr/bin/env python3
"""A demo front for `make cluster`: a round-robin TCP proxy in front of the Holdfast nodes.

    scripts/cluster-front.py HOST:PORT BACKEND_HOST:PORT [BACKEND_HOST:PORT ...]

Each new client connection goes to the next backend in turn; bytes are piped both ways untouched
until either side closes, so plain HTTP and WebSocket upgrades (terminals, desktops) both pass.
A backend that refuses the connection (a node that is down) is skipped and the next one tried, so
a dead node never breaks the front. It adds no X-Forwarded-For and checks no health: it is a
demo front for one machine only. In production use nginx or HAProxy (see "Many nodes" in the
README), with health checks and `--trusted-proxy` on every node.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

CONNECT_TIMEOUT = 3.0


def parse(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"cluster-front: not HOST:PORT: {address!r}")
    return host, int(port)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copies reader to writer until end of stream or an error, then closes writer."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class Front:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self.turn = itertools.cycle(range(len(backends)))

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """Opens a connection to the next backend that accepts one, or None if none does."""
        for _ in self.backends:
            host, port = self.backends[next(self.turn)]
            try:
                return await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
            except (OSError, asyncio.TimeoutError) as error:
                print(f"cluster-front: {host}:{port} is not answering ({error or 'timeout'}); trying the next node",
                      file=sys.stderr, flush=True)
        return None

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        backend = await self.connect()
        if backend is None:
            client_writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 18\r\nConnection: close\r\n\r\n"
                                b"no node answered\r\n")
            client_writer.close()
            return
        backend_reader, backend_writer = backend
        await asyncio.gather(pipe(client_reader, backend_writer), pipe(backend_reader, client_writer))


async def main(arguments: list[str]) -> None:
    if len(arguments) < 2:
        raise SystemExit(__doc__)
    host, port = parse(arguments[0])
    front = Front([parse(address) for address in arguments[1:]])
    server = await asyncio.start_server(front.handle, host, port)
    print(f"cluster-front: listening on http://{host}:{port} -> {' '.join(arguments[1:])}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1:]))
    except KeyboardInterrupt:
        pass
