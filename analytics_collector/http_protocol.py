"""uvicorn's httptools protocol, answering each request with one socket write.

uvicorn writes a response's status line and headers when the application sends
`http.response.start`, and the body with `http.response.body`: two `send` calls per answer
(two loopback segments, two wake-ups of the client). The collector's answers are a few
bytes, so the head is held and written together with the body that follows it.
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HEAD_END = b"\r\n\r\n"


class HeadHoldingTransport:
    """A transport that holds a response head until the next write, and writes both at
    once. A head with no write after it in the same loop turn (HEAD requests, streamed
    bodies, `100 Continue`) is written at the end of that turn, as on its own before;
    closing writes it first. Everything else is the wrapped transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif data.startswith(b"HTTP/") and data.endswith(_HEAD_END):
            self._head = data
            self._loop.call_soon(self._flush)
            return
        self._transport.write(data)

    def _flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeadHoldingTransport(transport, self.loop))  # type: ignore[arg-type]
