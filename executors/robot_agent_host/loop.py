"""The asyncio loop that runs async methods, made only when the project needs one.

Nothing here imports asyncio until a loop is made: importing it (which loads ssl) adds
about 7 MiB to a host of 18, and robot SDKs are sync.
"""

import inspect
import threading


class LazyLoop:
    """The host's one EventLoop, made by whichever thread first needs it.

    calls is the call table, which the loop settles async calls with.
    """

    def __init__(self, calls):
        self._calls = calls
        self._lock = threading.Lock()
        # The loop once made; code that knows a loop exists (an async call) reads it as is.
        self.current = None
        # Whether a loop made from now on gets a thread of its own.
        self._in_thread = False

    def get(self):
        with self._lock:
            if self.current is None:
                self.current = EventLoop(self._calls)
                if self._in_thread:
                    self.current.run_in_thread()
            return self.current

    def run_in_thread(self):
        """Runs the loop, now or once it is made, on a thread of its own."""
        with self._lock:
            self._in_thread = True
            if self.current is not None:
                self.current.run_in_thread()


def close_awaitable(awaitable):
    if inspect.iscoroutine(awaitable):
        awaitable.close()


class EventLoop:
    """The asyncio loop that runs async methods.

    It runs on the main thread, which then reads the socket too, when the project has
    async methods, and otherwise on a thread of its own.
    """

    def __init__(self, calls):
        import asyncio

        self._calls = calls
        # The thread running the loop; others hand it work through call_soon_threadsafe.
        self._thread = None
        loop = None
        if threading.current_thread() is threading.main_thread():
            loop = _main_thread_loop(asyncio)
        if loop is None:
            loop = asyncio.new_event_loop()
            if threading.current_thread() is threading.main_thread():
                asyncio.set_event_loop(loop)
        self.loop = loop

    def run_in_thread(self):
        threading.Thread(target=self._run_forever, name="asyncio", daemon=True).start()

    def _run_forever(self):
        import asyncio

        self._thread = threading.get_ident()
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run_until(self, awaitable):
        """Runs the loop on this thread until awaitable is done; returns its result."""
        self._thread = threading.get_ident()
        try:
            return self.loop.run_until_complete(awaitable)
        finally:
            self._thread = None

    def run_here(self, awaitable):
        """Like run_until, but raises what awaitable raised with the project's frames only."""
        outcome = []
        self.run_until(_capture(awaitable, outcome))
        result, error = outcome[0]
        if error is not None:
            raise error
        return result

    def _call(self, function, *args):
        if threading.get_ident() == self._thread:
            function(*args)
        else:
            self.loop.call_soon_threadsafe(function, *args)

    def start(self, call, awaitable):
        """Awaits a call's awaitable on the loop and settles the call with its outcome."""
        self._call(self._start, call, awaitable)

    def _start(self, call, awaitable):
        if call.settled:
            close_awaitable(awaitable)
            return
        call.task = self.loop.create_task(self._run_call(call, awaitable))

    async def _run_call(self, call, awaitable):
        calls = self._calls
        try:
            result = await awaitable
        except BaseException as exc:
            # Includes the CancelledError of our own cancel; the call is settled then.
            if not call.settled:
                calls.settle(call, calls.exception_body(call, exc))
            return
        if not call.settled:
            calls.settle(call, calls.result_body(call, result))

    def cancel(self, call):
        """Cancels a call's task, if it has one by the time the loop gets to it."""
        self._call(self._cancel, call)

    def _cancel(self, call):
        if call.task is not None:
            call.task.cancel()

    def wait(self, awaitable, timeout):
        """From a thread other than the loop's: awaits awaitable on the loop.

        Returns (True, result), or (False, None) when it did not finish within timeout
        seconds (it is cancelled then); raises what the awaitable raised.
        """
        done = threading.Event()
        outcome = []
        tasks = []
        self.loop.call_soon_threadsafe(
            lambda: tasks.append(self.loop.create_task(_capture(awaitable, outcome, done)))
        )
        if not done.wait(timeout):
            self.loop.call_soon_threadsafe(lambda: tasks[0].cancel())
            return False, None
        result, error = outcome[0]
        if error is not None:
            raise error
        return True, result


async def _capture(awaitable, outcome, done=None):
    """Awaits awaitable and appends (result, None) or (None, exception) to outcome."""
    try:
        outcome.append((await awaitable, None))
    except BaseException as exc:
        outcome.append((None, exc))
    finally:
        if done is not None:
            done.set()


def _main_thread_loop(asyncio):
    """The main thread's current loop, made current by the project's import if it did so.

    On Python 3.8 and 3.9 asyncio objects created at import bind to that loop, and a
    project may keep it to submit work from its threads, so async calls must run on it.
    None when there is no usable loop.
    """
    import warnings

    with warnings.catch_warnings():
        # Python 3.12+ warns when this has to create the loop; that is fine here.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            return None
    if loop.is_closed() or loop.is_running():
        return None
    return loop
