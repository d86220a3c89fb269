"""``SideStream`` on the CPU, with recording stand-ins for CUDA's streams and events: the fork
makes the side stream wait for an event recorded on the current stream, the join makes that
stream wait for another recorded on the side. (On the GPU, ``tests/test_kernels_gpu.py`` checks
the stream is in no pool and the graphs that capture the fork.)"""

from __future__ import annotations

import pytest
import torch

from sglang_pat import streams

Log = list[tuple[str, str, str]]


class FakeEvent:
    def __init__(self, log: Log, name: str) -> None:
        self.log, self.name = log, name

    def record(self, stream: FakeStream) -> None:
        self.log.append(("record", self.name, stream.name))


class FakeStream:
    def __init__(self, log: Log, name: str) -> None:
        self.log, self.name = log, name
        self.device = torch.device("cuda", 0)

    def wait_event(self, event: FakeEvent) -> None:
        self.log.append(("wait", self.name, event.name))


@pytest.fixture
def side(monkeypatch: pytest.MonkeyPatch) -> tuple[streams.SideStream, FakeStream, Log]:
    log: Log = []
    main = FakeStream(log, "main")
    names = iter(("forked", "joined"))
    monkeypatch.setattr(streams, "dedicated_stream", lambda device, owner: FakeStream(log, "side"))
    monkeypatch.setattr(torch.cuda, "Event", lambda: FakeEvent(log, next(names)))
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: main)
    return streams.SideStream(torch.device("cuda", 0), object()), main, log


def test_fork_then_join_order_the_two_streams_both_ways(side) -> None:
    side_stream, main, log = side
    assert side_stream.fork() is main
    assert log == [("record", "forked", "main"), ("wait", "side", "forked")]
    side_stream.join(main)
    assert log[2:] == [("record", "joined", "side"), ("wait", "main", "joined")]
