"""Shared by the SDK tests: a webhook receiver that keeps raw requests, a TCP relay that can
drop an answer on the floor, and one that gives scripted answers before relaying."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Self

from mboa.kit.net import free_port
from mboa.simulator.run import serve_asgi

MTN_OK = "+237670000000"


@dataclasses.dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A merchant's webhook endpoint that keeps each request exactly as it arrived."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.arrived = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.deliveries.append(Delivery(headers, body))
        self.arrived.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def until(self, found: Callable[[Delivery], bool], within: float = 60.0) -> Delivery:
        async with asyncio.timeout(within):
            while True:
                for delivery in self.deliveries:
                    if found(delivery):
                        return delivery
                self.arrived.clear()
                await self.arrived.wait()


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    async with serve_asgi(receiver) as url:
        yield receiver, url


class _Relay:
    """A TCP server on a free loopback port in front of the API on `target_port`."""

    def __init__(self, target_port: int | None) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _forward(self, request: bytes) -> bytes:
        """The API's whole answer to `request`, on a connection of its own."""
        assert self.target_port is not None, "more requests than scripted answers"
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        up_writer.write(request)
        await up_writer.drain()
        answer = await _read_message(up_reader)
        up_writer.close()
        return answer

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class DroppingProxy(_Relay):
    """A TCP relay in front of the API that reads the API's whole answer to the first request of
    `drop_first` connections and then closes the client's connection without passing it on: the
    request ran (and committed), the client saw a dropped connection. Each request is recorded."""

    def __init__(self, target_port: int, *, drop_first: int = 1) -> None:
        super().__init__(target_port)
        self.to_drop = drop_first

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request := await _read_message(reader):
                self.requests.append(request)
                answer = await self._forward(request)
                if self.to_drop > 0:
                    self.to_drop -= 1
                    return  # the answer is lost: the client sees the connection close
                writer.write(answer)
                await writer.drain()
        finally:
            writer.close()


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 message with a Content-Length body (what the SDKs and the API send)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return b""
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head + (await reader.readexactly(length) if length else b"")


def header(request: bytes, name: str) -> str | None:
    for line in request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower().encode():
            return value.strip().decode()
    return None


def http_answer(
    status: int, body: bytes = b"", content_type: str = "text/plain", **headers: str
) -> bytes:
    """A whole HTTP/1.1 answer, as a proxy or the API would write it (`retry_after="1"` is
    written `Retry-After: 1`)."""
    lines = [
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        *(f"{name.replace('_', '-').title()}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class ScriptedProxy(_Relay):
    """A stand-in for what sits between a client and the API (a load balancer, a proxy): its
    first answers are the test's own (`answers`: an HTML 502, a 503, a 409), given without
    reaching the API; later requests go through to the API on `target_port`. Each request is
    recorded with the time it arrived."""

    def __init__(self, answers: list[bytes], target_port: int | None = None) -> None:
        super().__init__(target_port)
        self.answers = list(answers)
        self.arrivals: list[float] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request := await _read_message(reader):
                self.requests.append(request)
                self.arrivals.append(time.monotonic())
                answer = self.answers.pop(0) if self.answers else await self._forward(request)
                writer.write(answer)
                await writer.drain()
        finally:
            writer.close()
