"""Body chunks written outside Django's response loop (shared_apps.http.direct_send), against uvicorn's own
HTTP/1.1 protocol objects: what a client's HTTP parser reads back."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.h11_impl import RequestResponseCycle

from shared_apps.http import direct_send
from shared_apps.http.direct_send import body_writer


class Transport(asyncio.Transport):
    """Collects what the server writes (the socket's side of the connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()

    def write(self, data: Any) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False


def uvicorn_cycle() -> tuple[RequestResponseCycle, Transport]:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"GET /api/pipeline/stream HTTP/1.1\r\nHost: acme.localhost\r\n\r\n")
    conn.next_event()
    transport = Transport()
    scope: Any = {"method": "GET", "headers": [], "type": "http", "http_version": "1.1"}
    logger = logging.getLogger("test")
    flow, done = FlowControl(transport), asyncio.Event()
    cycle = RequestResponseCycle(scope, conn, transport, flow, logger, logger, False, [], done, lambda: None)
    return cycle, transport


def client_reads(raw: bytes) -> list[Any]:
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "acme.localhost")]))
    client.send(h11.EndOfMessage())
    client.receive_data(raw)
    events = []
    while (event := client.next_event()) not in (h11.NEED_DATA, h11.PAUSED):
        events.append(event)
    return events


def test_chunks_written_to_uvicorns_transport_read_back_as_the_response_body_in_order():
    async def run() -> bytes:
        cycle, transport = uvicorn_cycle()
        await cycle.send({"type": "http.response.start", "status": 200, "headers": []})
        await cycle.send({"type": "http.response.body", "body": b"retry: 3000\n\n", "more_body": True})
        write = body_writer(cycle.send)
        assert direct_send._uvicorn_writer(cycle.send) is not None  # straight to the transport
        assert write(b"id: 7\nevent: lead.created\ndata: {}\n\n") is True
        assert write(b"id: 8\nevent: lead.updated\ndata: {}\n\n") is True
        await cycle.send({"type": "http.response.body", "body": b": bye\n\n", "more_body": False})
        return bytes(transport.written)

    events = client_reads(asyncio.run(run()))
    response, *body, end = events
    assert response.status_code == 200 and (b"transfer-encoding", b"chunked") in response.headers
    assert b"".join(bytes(event.data) for event in body) == (
        b"retry: 3000\n\nid: 7\nevent: lead.created\ndata: {}\n\nid: 8\nevent: lead.updated\ndata: {}\n\n"
        b": bye\n\n"
    )
    assert isinstance(end, h11.EndOfMessage)


def test_a_client_not_reading_gets_nothing_written_and_the_write_is_reported_undone():
    async def run() -> tuple[bool, bytes, bytes]:
        cycle, transport = uvicorn_cycle()
        await cycle.send({"type": "http.response.start", "status": 200, "headers": []})
        before = bytes(transport.written)
        cycle.flow.pause_writing()  # the socket's buffer is full
        return body_writer(cycle.send)(b"id: 7\n\n"), before, bytes(transport.written)

    done, before, after = asyncio.run(run())
    assert done is False and after == before


def test_another_server_gets_its_send_stepped_once():
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    assert body_writer(send)(b"id: 7\n\n") is True
    assert sent == [{"type": "http.response.body", "body": b"id: 7\n\n", "more_body": True}]
