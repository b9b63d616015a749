"""The collector's HTTP protocol (uvicorn's httptools one, one socket write per answer),
driven through a recording transport: what goes to the socket, write by write."""

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from analytics_collector.http_protocol import OneWriteHttpToolsProtocol


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 80)}.get(name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


async def _ok(_request: Request) -> Response:
    return PlainTextResponse("ok")


async def _streamed(_request: Request) -> Response:
    async def parts():  # type: ignore[no-untyped-def]
        yield b"a"
        await asyncio.sleep(0.01)
        yield b"b"

    return StreamingResponse(parts())


APP = Starlette(routes=[Route("/sa", _ok, methods=["GET", "POST"]), Route("/s", _streamed)])


async def _exchange(protocol_class: type[HttpToolsProtocol], request: bytes) -> list[bytes]:
    config = Config(app=APP, lifespan="off", log_level="warning", proxy_headers=False)
    protocol = protocol_class(config, ServerState(), {}, asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(50):
        await asyncio.sleep(0.005)
    return transport.writes


@pytest.mark.parametrize(
    ("request_bytes", "one_write"),
    [
        (b"GET /sa HTTP/1.1\r\nHost: a\r\n\r\n", True),
        (b"POST /sa HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", True),
        (b"HEAD /sa HTTP/1.1\r\nHost: a\r\n\r\n", True),  # a head alone still goes out
        (b"GET /s HTTP/1.1\r\nHost: a\r\n\r\n", False),  # streamed: head with the first part
    ],
)
def test_answers_are_the_same_bytes_in_one_write(request_bytes: bytes, one_write: bool) -> None:
    stock = asyncio.run(_exchange(HttpToolsProtocol, request_bytes))
    ours = asyncio.run(_exchange(OneWriteHttpToolsProtocol, request_bytes))
    assert b"".join(ours) == b"".join(stock)
    assert len(stock) >= 2 or request_bytes.startswith(b"HEAD")
    if one_write:
        assert len(ours) == 1
    else:
        assert len(ours) == len(stock) - 1


def test_closing_writes_a_held_head_first() -> None:
    async def run() -> list[bytes]:
        transport = RecordingTransport()
        config = Config(app=APP, lifespan="off", log_level="warning")
        protocol = OneWriteHttpToolsProtocol(config, ServerState(), {}, asyncio.get_running_loop())
        protocol.connection_made(transport)
        protocol.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        protocol.transport.close()
        return transport.writes

    assert asyncio.run(run()) == [b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]
