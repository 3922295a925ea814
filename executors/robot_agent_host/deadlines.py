"""Call timeouts, all kept by one thread."""

import math
import threading
import time
from heapq import heapify, heappop, heappush

from .report import format_current_exception, log

# Longest single wait of the timeout thread; a call's timeout may be far longer.
_LONGEST_WAIT = 3600.0


class Deadlines:
    """Times out calls from one thread, started with the first call that has a timeout.

    A call answered in time stays queued until its deadline comes round or the queue is
    compacted, and the thread is woken only for a deadline earlier than the one it sleeps
    until: with the usual single timeout that never happens, so a call costs it nothing.
    """

    def __init__(self, expire):
        self._expire = expire
        self._heap = []
        self._compact_at = 64
        self._condition = threading.Condition(threading.Lock())
        self._started = False
        self._wake_at = math.inf

    def add(self, call, timeout):
        deadline = time.monotonic() + timeout
        # id() orders equal deadlines: calls are not comparable, and every queued one is alive.
        entry = (deadline, id(call), call, timeout)
        with self._condition:
            heap = self._heap
            if len(heap) >= self._compact_at:
                heap[:] = [queued for queued in heap if not queued[2].settled]
                heapify(heap)
                self._compact_at = max(64, 2 * len(heap))
            heappush(heap, entry)
            if not self._started:
                self._started = True
                threading.Thread(target=self._run, name="call-timeouts", daemon=True).start()
            elif deadline < self._wake_at:
                self._condition.notify()

    def _run(self):
        heap = self._heap
        condition = self._condition
        while True:
            due = []
            with condition:
                while not due:
                    now = time.monotonic()
                    while heap and heap[0][0] <= now:
                        entry = heappop(heap)
                        if not entry[2].settled:
                            due.append(entry)
                    if due:
                        self._wake_at = now
                    elif heap:
                        self._wake_at = heap[0][0]
                        condition.wait(min(self._wake_at - now, _LONGEST_WAIT))
                    else:
                        self._wake_at = math.inf
                        condition.wait()
            for _, _, call, timeout in due:
                try:
                    self._expire(call, timeout)
                except Exception:
                    log(f"internal error timing out a call:\n{format_current_exception()}")
