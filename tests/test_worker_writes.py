"""server/worker.py CoalescedWrites: a turn's writes leave as one, in order, and none
is lost on close. (Every gunicorn-based test serves through it over real HTTP.)"""

from __future__ import annotations

import asyncio

from server.worker import CoalescedWrites


class Recording:
    """The socket transport's side: what was written, and whether it closed."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"extra:{name}"


def test_a_turns_writes_leave_as_one_in_order() -> None:
    async def run() -> list[bytes]:
        inner = Recording()
        t = CoalescedWrites(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 201 Created\r\n\r\n")
        t.write(b'{"ok":true}')
        assert inner.writes == []  # not yet: the turn is not over
        await asyncio.sleep(0)
        t.write(b"next")
        await asyncio.sleep(0)
        assert t.get_extra_info("peername") == "extra:peername"  # the rest passes through
        return inner.writes

    assert asyncio.run(run()) == [b'HTTP/1.1 201 Created\r\n\r\n{"ok":true}', b"next"]


def test_close_sends_what_is_pending_first_and_a_lost_socket_takes_nothing() -> None:
    async def run() -> tuple[Recording, Recording]:
        loop = asyncio.get_running_loop()
        closing, lost = Recording(), Recording()
        a = CoalescedWrites(closing, loop)  # type: ignore[arg-type]
        a.write(b"431 answer")
        a.close()
        b = CoalescedWrites(lost, loop)  # type: ignore[arg-type]
        b.write(b"too late")
        lost.closed = True  # the peer went away before the turn ended
        await asyncio.sleep(0)
        return closing, lost

    closing, lost = asyncio.run(run())
    assert closing.writes == [b"431 answer"] and closing.closed
    assert lost.writes == []
