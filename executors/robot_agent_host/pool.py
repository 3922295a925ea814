"""The threads that run sync calls."""

import queue
import threading
import time

from .report import format_current_exception, log

# How long calls may wait in the queue of a lazy pool before it starts another thread: while
# its reader is idle, and while it is busy reading (then holding the GIL the call threads
# need, so a standing queue is not yet a sign of slow calls).
GROW_AFTER = 0.002
GROW_LATE = 0.05


class Pool:
    """Threads that run sync calls, started as needed up to a limit.

    Cheaper per call than concurrent.futures.ThreadPoolExecutor, whose future, work item and
    Python-level semaphore cost more than a short robot command itself.

    A lazy pool (``eager=False``) starts a thread for a queued call only when its reader asks,
    through grow(), after the queue has not moved for a moment: short calls then share one or
    two threads instead of eight taking turns at the GIL, which halves the throughput of a
    burst of short calls; a slow call still gets a thread of its own within milliseconds.
    """

    def __init__(self, size, eager=True):
        self._size = size
        self._eager = eager
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = 0
        # Threads done with their last task and not yet promised a new one.
        self._idle = 0
        # Tasks queued that no thread is promised to, and when the queue last moved for them.
        self._unassigned = 0
        self._moved_at = 0.0

    def submit(self, function, *args):
        self._queue.put((function, args))
        with self._lock:
            if self._idle:
                self._idle -= 1
                return
            if self._started == self._size or (not self._eager and self._started > 0):
                if not self._unassigned:
                    self._moved_at = time.monotonic()
                self._unassigned += 1
                return
            self._started += 1
            name = "call-%d" % self._started
        self._start(name)

    @property
    def size(self):
        return self._size

    def stalled_for(self):
        """None when no task waits for a thread; else seconds since the queue last moved."""
        if not self._unassigned:
            return None
        return time.monotonic() - self._moved_at

    def grow(self):
        """Starts a thread for a waiting task if the queue has not moved for GROW_AFTER."""
        with self._lock:
            if not self._unassigned or self._started == self._size:
                return
            if time.monotonic() - self._moved_at < GROW_AFTER:
                return
            self._moved_at = time.monotonic()
            self._unassigned -= 1
            self._started += 1
            name = "call-%d" % self._started
        self._start(name)

    def _start(self, name):
        """Starts a thread promised to a queued task. Past the project's process limit (its
        threads count) none may start: the task then waits for a thread already running, or,
        with none, runs here, on the reader, rather than never."""
        try:
            threading.Thread(target=self._work, name=name, daemon=True).start()
            return
        except RuntimeError:
            with self._lock:
                self._started -= 1
                alone = self._started == 0
                if not alone:
                    self._unassigned += 1
        log(f"cannot start {name}: the project is at its limit of processes and threads")
        if alone:
            self._run_one()

    def _run_one(self):
        try:
            function, args = self._queue.get_nowait()
        except queue.Empty:
            return
        try:
            function(*args)
        except BaseException:
            log(f"internal error in a call:\n{format_current_exception()}")

    def _work(self):
        get = self._queue.get
        while True:
            function, args = get()
            try:
                function(*args)
            except BaseException:
                log(f"internal error in a call thread:\n{format_current_exception()}")
            with self._lock:
                if self._unassigned:
                    # The next get() takes one of them: the queue moves.
                    self._unassigned -= 1
                    self._moved_at = time.monotonic()
                else:
                    self._idle += 1
