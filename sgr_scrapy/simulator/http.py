"""A minimal, fast HTTP/1.1 server on ``asyncio.Protocol`` for the simulator.

Keep-alive and pipelining are supported: requests on one connection are answered in order,
even when injected latency makes a later answer ready first. Only ``Content-Length`` request
bodies are read (chunked uploads are refused with 501). Latency is a ``call_later``, so
concurrent requests on different connections overlap.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

logger = logging.getLogger(__name__)
MAX_HEAD = 64 * 1024
REASONS = {
    200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
    405: "Method Not Allowed", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}  # fmt: skip


@dataclass
class Request:
    """A parsed request; ``origin`` is ``http://<Host header>`` (or the listener's)."""

    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    origin: str
    listener: str


@dataclass
class Response:
    """A response to serialise; ``headers`` are extra headers beyond type and length."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0


Handler = Callable[[Request], Response]


class ServerState:
    """What every connection shares: the handler and the concurrency counters."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.inflight = 0
        self.peak = 0
        self.connections = 0


class HttpProtocol(asyncio.Protocol):
    """One connection: parse pipelined requests, answer them in order."""

    def __init__(self, state: ServerState, listener: str, origin: str) -> None:
        self.state = state
        self.listener = listener
        self.origin = origin
        self.buf = bytearray()
        self.pending: deque[list] = deque()
        self.transport: asyncio.Transport | None = None
        self.closing = False
        self.broken = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.state.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections -= 1
        self.state.inflight -= len(self.pending)
        self.pending.clear()
        self.closing = True

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while not self.closing and not self.broken:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    self._fatal(431)
                return
            lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                self._fatal(400)
                return
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._fatal(501)
                return
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._fatal(400)
                return
            start = end + 4
            if len(self.buf) < start + length:
                return
            body = bytes(self.buf[start : start + length])
            del self.buf[: start + length]
            conn = headers.get("connection", "").lower()
            keep = conn != "close" and (version == "HTTP/1.1" or conn == "keep-alive")
            self._dispatch(method, target, headers, body, keep)

    def _dispatch(self, method: str, target: str, headers: dict, body: bytes, keep: bool) -> None:
        state = self.state
        state.inflight += 1
        state.peak = max(state.peak, state.inflight)
        raw_path, _, qs = target.partition("?")
        host = headers.get("host")
        req = Request(
            method=method,
            target=target,
            path=unquote(raw_path),
            query=parse_qs(qs, keep_blank_values=True),
            headers=headers,
            body=body,
            origin=f"http://{host}" if host else self.origin,
            listener=self.listener,
        )
        try:
            resp = state.handler(req)
        except Exception:
            logger.exception("simulator handler failed for %(target)s", {"target": target})
            resp = Response(500, b'{"code":500}')
        slot = [resp, keep, False]
        if resp.delay > 0:
            slot[2] = True
            asyncio.get_running_loop().call_later(resp.delay, self._ready, slot)
        self.pending.append(slot)
        self._flush()

    def _ready(self, slot: list) -> None:
        slot[2] = False
        self._flush()

    def _flush(self) -> None:
        while self.pending and not self.pending[0][2] and not self.closing:
            resp, keep, _ = self.pending.popleft()
            self.state.inflight -= 1
            self._write(resp, keep)

    def _write(self, resp: Response, keep: bool) -> None:
        head = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Unknown')}"]
        if resp.content_type:
            head.append(f"Content-Type: {resp.content_type}")
        head.append(f"Content-Length: {len(resp.body)}")
        head.extend(f"{k}: {v}" for k, v in resp.headers)
        if not keep:
            head.append("Connection: close")
        assert self.transport is not None
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + resp.body)
        if not keep:
            self.closing = True
            self.transport.close()

    def _fatal(self, status: int) -> None:
        # Queued behind earlier answers so pipelined responses stay in order.
        self.broken = True
        self.state.inflight += 1
        self.pending.append([Response(status, b"", None), False, False])
        self._flush()
