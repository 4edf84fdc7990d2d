"""The read-ahead and write-behind threads of sr4det/_overlap.py (used by compare, detect and materialize): order kept,
errors raised typed in the main thread at their turn, writes after a failure dropped, threads stopped at the end."""

from __future__ import annotations

import threading
import time

import pytest

from sr4det import _overlap
from sr4det.errors import DataError, DiskFullError


def _no_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("sr4det-")]


def test_writer_keeps_order_drops_after_a_failure_and_raises_it_once():
    done = []
    w = _overlap.Writer(depth=2)
    w.submit(lambda: done.append(1))
    w.submit(lambda: (_ for _ in ()).throw(DiskFullError(28, "full")))
    raised = 0
    for i in range(2, 6):
        try:
            w.submit(lambda i=i: done.append(i))
        except DiskFullError:
            raised += 1
    try:
        w.close()
    except DiskFullError:
        raised += 1
    w.close()  # raised once only
    assert raised == 1 and done == [1]


def test_prefetch_keeps_order_and_raises_an_items_error_at_its_turn():
    def fetch(i):
        if i == 3:
            raise DataError("bad 3")
        return i * 10

    got = []
    p = _overlap.Prefetch(fetch, range(6), depth=2)
    with pytest.raises(DataError, match="bad 3"):
        for v in p:
            got.append(v)
    p.close()
    assert got == [0, 10, 20]


@pytest.mark.parametrize("depth", [0, 2])
def test_overlapped_runs_every_write_in_order_inline_or_threaded(depth):
    written, seen = [], []
    with _overlap.overlapped(lambda i: i * i, range(7), prefetch=depth, write_queue=depth) as (reader, writer):
        for v in reader:
            writer.check()
            writer.submit(lambda v=v: (written.append(v), seen.append(threading.current_thread().name)))
    assert written == [i * i for i in range(7)]
    assert set(seen) == ({"sr4det-writer"} if depth else {threading.current_thread().name})
    assert _no_threads()


def test_overlapped_raises_a_write_error_at_the_end_when_the_loop_finished_first():
    written = []

    def write(i):
        if i == 4:
            raise DiskFullError(28, "no room to write 4")
        written.append(i)

    with pytest.raises(DiskFullError, match="no room to write 4"):
        with _overlap.overlapped(lambda i: i, range(5), prefetch=2, write_queue=8) as (reader, writer):
            for i in reader:  # the last write fails: nothing after it to notice it, close() raises it
                writer.submit(lambda i=i: write(i))
    assert written == [0, 1, 2, 3]
    assert _no_threads()


def test_overlapped_keeps_the_loops_own_error_and_finishes_the_queued_writes():
    written = []
    gate = threading.Event()

    def write(i):
        gate.wait(5)  # the main thread fails while these writes still wait in the queue
        written.append(i)

    with pytest.raises(DataError, match="bad input 3"):
        with _overlap.overlapped(lambda i: i, range(6), prefetch=2, write_queue=8) as (reader, writer):
            for i in reader:
                if i == 3:
                    gate.set()
                    raise DataError("bad input 3")
                writer.submit(lambda i=i: write(i))
    assert written == [0, 1, 2]  # complete results of the earlier items are kept
    assert _no_threads()


def test_overlapped_drops_the_queued_writes_on_keyboard_interrupt():
    written = []
    started = threading.Event()
    box: list[_overlap.Writer] = []

    def write(i):
        started.set()
        t0 = time.monotonic()  # item 0's write lasts until the interrupt asked for the drop
        while not box[0]._drop.is_set() and time.monotonic() - t0 < 5:
            time.sleep(0.01)
        written.append(i)

    with pytest.raises(KeyboardInterrupt):
        with _overlap.overlapped(lambda i: i, range(6), prefetch=2, write_queue=8) as (reader, writer):
            box.append(writer)
            for i in reader:
                if i == 3:
                    started.wait(5)  # the writer is inside item 0's write; 1 and 2 wait behind it
                    raise KeyboardInterrupt
                writer.submit(lambda i=i: write(i))
    assert written == [0]  # the write under way finishes (never half done), the queued ones are dropped
    assert _no_threads()


def test_background_cpu_seconds_count_a_background_threads_cpu_time():
    before = _overlap.background_cpu_seconds()

    def spin():
        with _overlap.background_thread():
            t0 = time.thread_time()
            while time.thread_time() - t0 < 0.2:
                pass

    t = threading.Thread(target=spin)
    t.start()
    t.join()
    assert _overlap.background_cpu_seconds() - before >= 0.2
