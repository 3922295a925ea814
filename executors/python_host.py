"""Host process that imports a deployed Python project and serves calls to it.

The agent's worker listens on a Unix socket and starts::

    python3 python_host.py --socket PATH --project DIR [--threads N]
        [--max-frame BYTES] [--call-timeout SECONDS]

The host connects to PATH. A frame, in both directions, is a 4-byte big-endian length
of the rest, a 4-byte big-endian length of the head, the head (UTF-8 JSON holding one
object), then the body: JSON text that crosses the agent's processes without being decoded
and encoded again on the way. Only three frames may have one, for JSON over 1 KiB (a
smaller one is cheaper to parse): a ``call`` (its args), a ``result`` (the result) and an
``event`` (its data).
The socket carries nothing else, so the project's print() output (stdout and stderr stay
with the process; the agent pipes them into its log) can never corrupt the channel.

Host -> agent: one ``ready`` (or ``load_error``, then exit 1), then ``result`` frames,
exactly one per call id, ``event`` frames from ``push_message``, and ``settled`` frames.
Agent -> host: ``call``, ``cancel``, ``safety_stop``, ``status``, ``shutdown``.

A call that times out or is cancelled is answered at once (error code ``TIMEOUT`` or
``CANCELLED``) and its work is stopped where Python allows: an async method's task is
cancelled, a queued sync call is dropped, and a sync call already running gets an
exception raised in its thread. Python raises it only at the thread's next bytecode, so
a thread blocked in C (``time.sleep``, a socket read, a driver call) runs on until that
C call returns. Such a call is *abandoned*: its error object carries
``"abandoned": true`` (``false`` when the work is known to be stopped), and when its
thread finally leaves project code the host sends ``{"t": "settled", "id": N}``. The
agent decides how long to wait for that before killing the process.

A call's result is ``{"t": "result", "id": N, "ok": true, "result": R}``, or the same
head without ``result`` and R as the body. ``{"t": "status", "id": N}`` is answered with
``{"t": "result", "id": N, "ok": true, "result": {"in_flight": K, "abandoned": [ids],
"threads": T}}``: calls not yet
answered, abandoned calls not yet settled, and the live Python threads in the process.

Where project code runs: the import and ``init()`` on the main thread, with no event
loop running (an async ``init()`` is run to completion on the host's loop there); sync
methods on a pool of ``--threads`` threads, each of which sends its own result. A project
with async methods has the main thread then run an asyncio loop, which reads the socket
and runs those methods. Otherwise the main thread reads the socket with blocking reads,
asyncio is imported only if the project did so or returns something to await, and the
loop runs on a thread of its own.

Exit codes: 0 after ``shutdown`` or when the agent closes the socket, 1 when the project
fails to load, 2 on bad arguments or when the socket cannot be reached, 3 on a protocol
error (a frame over the limit, or a frame that is not a JSON object).

Stdlib only; runs on Python 3.8.
"""

import argparse
import importlib.util
import inspect
import json
import math
import os
import queue
import select
import signal
import socket
import struct
import sys
import threading
import time
import types
from heapq import heapify, heappop, heappush

EXIT_OK = 0
EXIT_LOAD_FAILED = 1
EXIT_USAGE = 2
EXIT_PROTOCOL_ERROR = 3

# A safety stop must answer even when a hook hangs, so each hook gets this long.
STOP_HOOK_TIMEOUT = 10.0
# How long the last frame being written may take before the process exits anyway.
CLOSE_TIMEOUT = 5.0

# Results and event data whose JSON is longer go as a frame's body, passed on unparsed.
_INLINE_LIMIT = 1024
# A frame's two lengths: of the rest of the frame (the head's length, head and body), and
# of the head. The first is what the frame limit applies to.
_FRAME_HEADER = struct.Struct(">II")
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_DECODE = json.JSONDecoder().decode
# Results that cannot be awaitable: the usual ones skip inspect.isawaitable's ABC check.
_PLAIN_TYPES = frozenset((type(None), bool, int, float, str, list, dict, tuple))
_HOST_FILE = os.path.abspath(__file__)
# The folder of os.py is the standard library's; sysconfig would tell the same but load
# the interpreter's whole build configuration to do it.
_STDLIB_DIR = os.path.dirname(os.path.realpath(os.__file__)) + os.sep
_NOT_OBJECTS = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
)
# Bytes read from the socket at a time.
_READ_SIZE = 65536
# Frames up to this size go out in one write; a bigger body is not copied just to put
# four bytes in front of it.
_JOIN_LIMIT = 65536
# How long calls may wait in the queue of a lazy pool before it starts another thread: while
# its reader is idle, and while it is busy reading (then holding the GIL the call threads
# need, so a standing queue is not yet a sign of slow calls).
_GROW_AFTER = 0.002
_GROW_LATE = 0.05
# Longest single wait of the timeout thread; a call's timeout may be far longer.
_LONGEST_WAIT = 3600.0
_stdlib_modules = {}


class _CallInterrupted(BaseException):
    """Raised inside a worker thread to stop a cancelled or timed-out call.

    A BaseException so that project code's ``except Exception`` does not swallow it.
    """


class _Call:
    """One call in flight; it is settled (answered) exactly once.

    The fields other threads change are guarded by the host's lock.
    """

    __slots__ = (
        "id", "label", "settled", "busy", "thread", "abandoned", "reported", "is_async", "task"
    )

    def __init__(self, call_id, label):
        self.id = call_id
        self.label = label
        self.settled = False
        # A pool thread runs project code for the call: its object's constructor or the method.
        self.busy = False
        # That thread's id while it runs the method, the one place an interrupt may land.
        self.thread = None
        # Answered while busy; a "settled" frame is owed once the thread is done...
        self.abandoned = False
        # ...but only after the answer itself has gone out.
        self.reported = False
        # Handed to the event loop, which alone touches the task.
        self.is_async = False
        self.task = None


def _log(message):
    sys.stderr.write("python_host: " + message + "\n")
    sys.stderr.flush()


def _encode(message):
    return _ENCODER.encode(message).encode("utf-8")


def _error_body(call_id, code, type_name, message, formatted_traceback=None, abandoned=None):
    error = {"code": code, "type": type_name, "message": message, "traceback": formatted_traceback}
    if abandoned is not None:
        error["abandoned"] = abandoned
    return _encode({"t": "result", "id": call_id, "ok": False, "error": error})


def _safe_str(value):
    try:
        return str(value)
    except Exception:
        return object.__repr__(value)


def _safe_repr(value):
    try:
        return repr(value)
    except Exception:
        return object.__repr__(value)


def _format_exception(exc):
    """The traceback of a project exception, without the host's own leading frames."""
    import traceback

    tb = exc.__traceback__
    while tb is not None and _is_host_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _format_current_exception():
    import traceback

    return traceback.format_exc()


def _is_host_frame(filename):
    return filename == _HOST_FILE or filename.startswith("<frozen importlib")


def _format_seconds(seconds):
    return "%g" % seconds


def _raise_in_thread(thread_id, exc_type):
    """Asks the interpreter to raise exc_type in a thread at its next bytecode."""
    import ctypes

    set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    if set_async_exc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)) > 1:
        set_async_exc(ctypes.c_ulong(thread_id), None)


def _close_awaitable(awaitable):
    if inspect.iscoroutine(awaitable):
        awaitable.close()


def _is_stdlib(module_name):
    """Whether a module belongs to Python itself rather than to the project or a package."""
    top = module_name.partition(".")[0]
    known = _stdlib_modules.get(top)
    if known is None:
        path = getattr(sys.modules.get(top), "__file__", None)
        if top in sys.builtin_module_names or path is None:
            known = True
        else:
            path = os.path.realpath(path)
            known = path.startswith(_STDLIB_DIR) and os.sep + "site-packages" not in path
        _stdlib_modules[top] = known
    return known


def _is_instance_object(value):
    """Whether a module global is an instance the agent may call methods on."""
    if isinstance(value, _NOT_OBJECTS):
        return False
    module_name = type(value).__module__
    return isinstance(module_name, str) and not _is_stdlib(module_name)


def _is_public_method(owner, name):
    if name.startswith("_"):
        return False
    try:
        raw = inspect.getattr_static(owner, name)
    except AttributeError:
        # Provided by __getattr__ (proxies, RPC stubs): only a real lookup can tell.
        raw = getattr(owner, name, None)
    if isinstance(raw, (staticmethod, classmethod)):
        return True
    return callable(raw) and not isinstance(raw, type)


def _public_methods(owner):
    return [name for name in dir(owner) if _is_public_method(owner, name)]


def _describe_method(target, name):
    """(method, arguments check or None, is_async) for a public method of target, else None."""
    if not isinstance(name, str) or not _is_public_method(target, name):
        return None
    method = getattr(target, name)
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        signature = None
    args_check = _ArgsCheck(signature) if signature else None
    return method, args_check, inspect.iscoroutinefunction(method)


class _ArgsCheck:
    """Whether keyword arguments fit a signature, in a few set operations for the usual case.

    Signature.bind() is pure Python and costs more than a short robot command; it runs only
    when the quick test fails, to accept what the quick test cannot judge or to word the error.
    """

    __slots__ = ("_signature", "_names", "_required", "_any_name")

    def __init__(self, signature):
        self._signature = signature
        kinds = inspect.Parameter
        names = set()
        required = set()
        quick = True
        self._any_name = False
        for parameter in signature.parameters.values():
            if parameter.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY):
                names.add(parameter.name)
                if parameter.default is parameter.empty:
                    required.add(parameter.name)
            elif parameter.kind == kinds.VAR_KEYWORD:
                self._any_name = True
            elif parameter.kind == kinds.POSITIONAL_ONLY:
                # A name that is also a positional-only parameter's: leave it to bind().
                quick = False
        self._names = frozenset(names) if quick else None
        self._required = frozenset(required)

    def check(self, args):
        """Raises TypeError, worded by Signature.bind(), when args do not fit."""
        names = self._names
        if names is not None and self._required.issubset(args) and (
            self._any_name or names.issuperset(args)
        ):
            return
        self._signature.bind(**args)


def _is_async_method(owner, name):
    try:
        return inspect.iscoroutinefunction(getattr(owner, name))
    except Exception:
        return False


def _is_positive_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


class _Writer:
    """Sends frames from any thread; each goes out whole, never interleaved with another.

    The socket is blocking, so a writer waits while the agent's side of it is full; the
    agent reads all the time, and whatever is written meanwhile waits its turn.
    """

    def __init__(self, sock):
        self._sock = sock
        self._lock = threading.Lock()
        self._closed = False

    def send(self, head, body=b""):
        """Sends one frame unless the writer is closed: head (an encoded JSON object), then
        body (JSON text the agent passes on as it is)."""
        header = _FRAME_HEADER.pack(4 + len(head) + len(body), len(head))
        with self._lock:
            if self._closed:
                return
            try:
                if len(body) <= _JOIN_LIMIT:
                    self._sock.sendall(header + head + body)
                else:
                    self._sock.sendall(header + head)
                    self._sock.sendall(body)
            except OSError:
                # The agent has gone; the reader meets the end of the stream and exits.
                self._closed = True

    def close(self, timeout):
        """Stops all sending once the frame being sent is out; False if that took too long."""
        finished = self._lock.acquire(timeout=timeout)
        self._closed = True
        if finished:
            self._lock.release()
        return finished


class _Pool:
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
        threading.Thread(target=self._work, name=name, daemon=True).start()

    @property
    def size(self):
        return self._size

    def stalled_for(self):
        """None when no task waits for a thread; else seconds since the queue last moved."""
        if not self._unassigned:
            return None
        return time.monotonic() - self._moved_at

    def grow(self):
        """Starts a thread for a waiting task if the queue has not moved for _GROW_AFTER."""
        with self._lock:
            if not self._unassigned or self._started == self._size:
                return
            if time.monotonic() - self._moved_at < _GROW_AFTER:
                return
            self._moved_at = time.monotonic()
            self._unassigned -= 1
            self._started += 1
            name = "call-%d" % self._started
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self):
        get = self._queue.get
        while True:
            function, args = get()
            try:
                function(*args)
            except BaseException:
                _log(f"internal error in a call thread:\n{_format_current_exception()}")
            with self._lock:
                if self._unassigned:
                    # The next get() takes one of them: the queue moves.
                    self._unassigned -= 1
                    self._moved_at = time.monotonic()
                else:
                    self._idle += 1


class _Deadlines:
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
                    _log(f"internal error timing out a call:\n{_format_current_exception()}")


class _EventLoop:
    """The asyncio loop that runs async methods.

    It exists only when the project needs it: importing asyncio (which loads ssl) adds
    about 7 MiB to a host of 18, and robot SDKs are sync. It runs on the main thread,
    which then reads the socket too, when the project has async methods, and otherwise on
    a thread of its own.
    """

    def __init__(self, host):
        import asyncio

        self._host = host
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
            _close_awaitable(awaitable)
            return
        call.task = self.loop.create_task(self._run_call(call, awaitable))

    async def _run_call(self, call, awaitable):
        host = self._host
        try:
            result = await awaitable
        except BaseException as exc:
            # Includes the CancelledError of our own cancel; the call is settled then.
            if not call.settled:
                host.settle(call, host.exception_body(call, exc))
            return
        if not call.settled:
            host.settle(call, host.result_body(call, result))

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


class _Host:
    """Loads the project, then reads the agent's messages on the main thread.

    Sync calls run on the pool, which sends each result itself; async calls run on the
    event loop; timeouts fire on a thread of their own. The lock guards the state of calls
    that these threads share: whether a call is settled, busy or abandoned.
    """

    def __init__(self, sock, options):
        self._sock = sock
        self._writer = _Writer(sock)
        self._project_dir = os.path.abspath(options.project)
        self._max_frame = options.max_frame
        self._call_timeout = options.call_timeout if options.call_timeout > 0 else None
        self._pool = _Pool(options.threads)
        self._deadlines = _Deadlines(self._expire)
        self._event_loop = None
        self._event_loop_lock = threading.Lock()
        # Whether a loop made from now on gets a thread of its own.
        self._loop_in_thread = False
        self._has_async_methods = False
        self._buffer = bytearray()
        self._module = None
        self._targets = {}
        self._methods = {}
        self._calls = {}
        self._abandoned = set()
        self._lock = threading.Lock()
        self._instantiate_lock = threading.Lock()
        self._handlers = {
            "call": self._on_call,
            "cancel": self._on_cancel,
            "safety_stop": self._on_safety_stop,
            "status": self._on_status,
            "shutdown": self._on_shutdown,
        }

    def push_message(self, event, data=None):
        """Sends an event to the agent; callable from any thread or coroutine.

        Data that JSON cannot encode is sent as its repr() string.
        """
        if not isinstance(event, str):
            raise TypeError(
                f"Cannot push message: event must be a string, got {type(event).__name__}"
            )
        try:
            body = _ENCODER.encode(data)
        except Exception:
            body = _ENCODER.encode(_safe_repr(data))
        body = body.encode("utf-8")
        head = _encode({"t": "event", "event": event})
        if len(body) <= _INLINE_LIMIT:
            head = b"%s,\"data\":%s}" % (head[:-1], body)
            body = b""
        size = 4 + len(head) + len(body)
        if size > self._max_frame:
            raise ValueError(
                f"Cannot push message {event!r}: it encodes to {size} bytes, "
                f"over the frame limit of {self._max_frame} bytes"
            )
        self._writer.send(head, body)

    # Lifecycle

    def run(self):
        """Loads the project, serves until told to stop, and returns the exit code."""
        try:
            self._module = self._load()
            objects = self._describe_objects()
        except BaseException as exc:
            error = {
                "code": "START_FAILED",
                "type": type(exc).__name__,
                "message": _safe_str(exc),
                "traceback": _format_exception(exc),
            }
            self._writer.send(_encode({"t": "load_error", "error": error}))
            code = EXIT_LOAD_FAILED
        else:
            self._writer.send(_encode({
                "t": "ready",
                "objects": objects,
                "python": "%d.%d.%d" % sys.version_info[:3],
                "pid": os.getpid(),
            }))
            if self._has_async_methods:
                code = self._serve_on_loop()
            else:
                # Lazy: the reading thread of _serve grows it when its queue stands still.
                self._pool = _Pool(self._pool.size, eager=False)
                code = self._serve()
        if not self._writer.close(CLOSE_TIMEOUT):
            _log(f"closing the socket took longer than {_format_seconds(CLOSE_TIMEOUT)} s")
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        return code

    def _load(self):
        directory = self._project_dir
        sys.path.insert(0, directory)
        main_path = os.path.join(directory, "main.py")
        package_path = os.path.join(directory, "__init__.py")
        if os.path.isfile(main_path):
            spec = importlib.util.spec_from_file_location("main", main_path)
        elif os.path.isfile(package_path):
            spec = importlib.util.spec_from_file_location(
                "project", package_path, submodule_search_locations=[directory]
            )
        else:
            raise FileNotFoundError(
                f"Cannot load project: {directory} holds neither main.py nor __init__.py"
            )
        module = importlib.util.module_from_spec(spec)
        module.push_message = self.push_message
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        init = getattr(module, "init", None)
        if callable(init):
            result = init()
            if inspect.isawaitable(result):
                self._get_event_loop().run_here(result)
        return module

    def _get_event_loop(self):
        with self._event_loop_lock:
            if self._event_loop is None:
                self._event_loop = _EventLoop(self)
                if self._loop_in_thread:
                    self._event_loop.run_in_thread()
            return self._event_loop

    def _describe_objects(self):
        objects = {}
        for name in list(vars(self._module)):
            value = self._find_object(name)
            if value is not None:
                methods = objects[name] = _public_methods(value)
                if not self._has_async_methods:
                    self._has_async_methods = any(_is_async_method(value, m) for m in methods)
        return objects

    def _find_object(self, name):
        """The module global a call may target: a project class or an instance."""
        if not isinstance(name, str) or name.startswith("_"):
            return None
        value = getattr(self._module, name, None)
        if isinstance(value, type):
            return value if self._is_project_class(value) else None
        return value if _is_instance_object(value) else None

    def _is_project_class(self, cls):
        module_name = cls.__module__
        root = self._module.__name__
        if module_name == root or str(module_name).startswith(root + "."):
            return True
        path = getattr(sys.modules.get(module_name), "__file__", None)
        return isinstance(path, str) and os.path.abspath(path).startswith(
            self._project_dir + os.sep
        )

    # Channel

    def _serve(self):
        """Reads frames on this thread, blocking, until the host must stop; returns the exit code.

        For a project without async methods: a sync call then costs one hand-off, to a pool
        thread, and any event loop gets a thread of its own.
        """
        with self._event_loop_lock:
            self._loop_in_thread = True
            if self._event_loop is not None:
                self._event_loop.run_in_thread()
        if "asyncio" in sys.modules:
            # Adopt now, on the main thread, any loop the project's import made current.
            self._get_event_loop()
        sock = self._sock
        chunk = bytearray(_READ_SIZE)
        view = memoryview(chunk)
        pool = self._pool
        while True:
            stalled = pool.stalled_for()
            if stalled is not None and (
                stalled >= _GROW_LATE
                or not select.select([sock], [], [], max(0.0, _GROW_AFTER - stalled))[0]
            ):
                # Calls wait, the queue has not moved, and this thread has nothing to read
                # (so it is not what keeps the call threads off the GIL): one more thread.
                pool.grow()
                continue
            try:
                received = sock.recv_into(chunk)
            except OSError:
                # Reset by the agent: as good as the end of the stream.
                received = 0
            if not received:
                return EXIT_OK
            code = self._feed(view[:received])
            if code is not None:
                return code

    def _serve_on_loop(self):
        """Reads frames on the event loop, run on this thread, until the host must stop.

        For a project with async methods: an async call then costs no hand-off at all, and
        a sync call one, to a pool thread, as with _serve.
        """
        events = self._get_event_loop()
        loop = events.loop
        sock = self._sock
        fd = sock.fileno()
        chunk = bytearray(_READ_SIZE)
        view = memoryview(chunk)
        stopped = loop.create_future()

        def on_readable():
            try:
                # The socket stays blocking for the threads that write to it.
                received = sock.recv_into(chunk, _READ_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                received = 0
            code = self._feed(view[:received]) if received else EXIT_OK
            if code is not None:
                loop.remove_reader(fd)
                stopped.set_result(code)

        loop.add_reader(fd, on_readable)
        return events.run_until(stopped)

    def _feed(self, data):
        """Handles the frames data completes; returns an exit code when the host must stop."""
        buffer = self._buffer
        buffer += data
        size = len(buffer)
        start = 0
        while size - start >= 8:
            length, head_length = _FRAME_HEADER.unpack_from(buffer, start)
            if length > self._max_frame:
                return _protocol_error(
                    f"frame length {length} exceeds the limit of {self._max_frame} bytes"
                )
            if head_length > length - 4:
                return _protocol_error(
                    f"head length {head_length} exceeds the frame length {length}"
                )
            end = start + 4 + length
            if end > size:
                break
            body_start = start + 8 + head_length
            try:
                message = _DECODE(buffer[start + 8:body_start].decode("utf-8"))
                if end > body_start and type(message) is dict and message.get("t") == "call":
                    # Long args come as the body; any other body is ignored.
                    message["args"] = _DECODE(buffer[body_start:end].decode("utf-8"))
            except ValueError as exc:
                return _protocol_error(f"frame is not valid UTF-8 JSON: {exc}")
            start = end
            code = self._handle(message)
            if code is not None:
                return code
        if start:
            del buffer[:start]
        return None

    def _handle(self, message):
        """Handles one message; returns an exit code when the host must stop."""
        if type(message) is not dict:
            return _protocol_error("frame is not a JSON object")
        kind = message.get("t")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            _log(f"ignoring message of unknown type {_safe_repr(kind)}")
            return None
        try:
            return handler(message)
        except Exception:
            # A bug here must not take the channel down with it.
            _log(f"internal error handling a {kind} message:\n{_format_current_exception()}")
            return None

    def _on_shutdown(self, message):
        with self._lock:
            calls = list(self._calls.values())
        for call in calls:
            self._abort(
                call,
                "CANCELLED",
                "CancelledError",
                f"Call cancelled: {call.label} was still running when the host shut down",
            )
        return EXIT_OK

    def _on_status(self, message):
        request_id = message.get("id")
        if type(request_id) is not int:
            _log(f"ignoring status with id {_safe_repr(request_id)}: it must be an integer")
            return
        with self._lock:
            result = {
                "in_flight": len(self._calls),
                "abandoned": sorted(call.id for call in self._abandoned),
                "threads": threading.active_count(),
            }
        self._writer.send(_encode({"t": "result", "id": request_id, "ok": True, "result": result}))

    # Calls

    def _on_call(self, message):
        call_id = message.get("id")
        if type(call_id) is not int:
            _log(f"ignoring call with id {_safe_repr(call_id)}: the id must be an integer")
            return
        object_name = message.get("object")
        method_name = message.get("method")
        label = f"{object_name}.{method_name}"
        args = message.get("args")
        if args is None:
            args = {}
        timeout = message.get("timeout")
        if timeout is None:
            timeout = self._call_timeout
        problem = None
        if call_id in self._calls:
            problem = f"call id {call_id} is already in flight"
        elif type(args) is not dict:
            problem = f"args must be a JSON object, got {type(args).__name__}"
        elif timeout is not None and not _is_positive_number(timeout):
            problem = f"timeout must be a positive number of seconds, got {timeout!r}"
        if problem is not None:
            self._writer.send(
                _error_body(call_id, "BAD_ARGS", "TypeError", f"Cannot call {label}: {problem}")
            )
            return

        call = _Call(call_id, label)
        self._calls[call_id] = call
        if timeout is not None:
            self._deadlines.add(call, timeout)
        target = self._targets.get(object_name) if isinstance(object_name, str) else None
        if target is None:
            try:
                target = self._find_object(object_name)
            except Exception as exc:
                self.settle(call, self.exception_body(call, exc))
                return
            if target is None:
                self.settle(call, _error_body(
                    call_id,
                    "UNKNOWN_OBJECT",
                    "NameError",
                    f"Cannot call {label}: the project has no object {object_name!r}",
                ))
                return
            if isinstance(target, type):
                self._pool.submit(self._build, call, object_name, target, method_name, args)
                return
            self._targets[object_name] = target
        method = self._prepare(call, target, object_name, method_name, args)
        if method is not None:
            self._pool.submit(self._run_sync, call, method, args)

    def _build(self, call, object_name, cls, method_name, args):
        """On a pool thread: creates the call's object on first use, then runs the call."""
        with self._lock:
            if call.settled:
                return
            call.busy = True
        instance, error = self._instantiate(object_name, cls)
        if self._leave(call):
            return
        if error is not None:
            self.settle(call, self.exception_body(call, error))
            return
        method = self._prepare(call, instance, object_name, method_name, args)
        if method is not None:
            self._run_sync(call, method, args)

    def _instantiate(self, name, cls):
        """Creates the one shared instance of a project class; returns (instance, error)."""
        try:
            with self._instantiate_lock:
                instance = self._targets.get(name)
                if instance is None:
                    instance = cls()
                    self._targets[name] = instance
                return instance, None
        except BaseException as exc:
            return None, exc

    def _prepare(self, call, target, object_name, method_name, args):
        """Checks a call against its method and starts it if async.

        Returns the sync method to run, or None when the call is settled or on the loop.
        """
        key = (object_name, method_name)
        entry = self._methods.get(key) if isinstance(method_name, str) else None
        try:
            if entry is None:
                entry = _describe_method(target, method_name)
                if entry is None:
                    self.settle(call, _error_body(
                        call.id,
                        "UNKNOWN_METHOD",
                        "AttributeError",
                        f"Cannot call {call.label}: {object_name!r} has no public method "
                        f"{method_name!r}",
                    ))
                    return None
                self._methods[key] = entry
            method, args_check, is_async = entry
            if args_check is not None:
                try:
                    args_check.check(args)
                except TypeError as exc:
                    self.settle(call, _error_body(
                        call.id, "BAD_ARGS", "TypeError", f"Cannot call {call.label}: {exc}"
                    ))
                    return None
            if not is_async:
                return method
            awaitable = method(**args)
            call.is_async = True
            self._get_event_loop().start(call, awaitable)
        except Exception as exc:
            # Project code runs here too (__getattr__, descriptors, decorators).
            self.settle(call, self.exception_body(call, exc))
        return None

    def _run_sync(self, call, method, args):
        """On a pool thread: runs a sync method and sends its result from this thread."""
        error = None
        try:
            try:
                with self._lock:
                    if call.settled:
                        return
                    call.busy = True
                    call.thread = threading.get_ident()
                result = method(**args)
            finally:
                # An interrupt raised before this lock is taken surfaces here at the latest,
                # so it can never escape into the pool's own code.
                with self._lock:
                    call.thread = None
        except _CallInterrupted:
            self._leave(call)
            return
        except BaseException as exc:
            error = exc
        if self._leave(call):
            return
        if error is not None:
            body = self.exception_body(call, error)
        elif type(result) not in _PLAIN_TYPES and inspect.isawaitable(result):
            with self._lock:
                call.is_async = not call.settled
            if call.is_async:
                self._get_event_loop().start(call, result)
            else:
                _close_awaitable(result)
            return
        else:
            body = self.result_body(call, result)
        self.settle(call, body)

    def _leave(self, call):
        """Notes that a call's thread has left project code; returns whether it is settled."""
        with self._lock:
            call.busy = False
            call.thread = None
            owed = call.abandoned and call.reported
        if owed:
            self._release(call)
        return call.settled

    def result_body(self, call, result):
        """The frame of a call's result: the head, or (head, body) for a long result, or an
        error frame when the result cannot be sent."""
        try:
            body = _ENCODER.encode(result)
        except Exception as exc:
            return _error_body(
                call.id,
                "NOT_SERIALIZABLE",
                type(exc).__name__,
                f"Cannot encode result of {call.label} as JSON: {exc}",
            )
        body = body.encode("utf-8")
        if len(body) <= _INLINE_LIMIT:
            return b'{"t":"result","id":%d,"ok":true,"result":%s}' % (call.id, body)
        head = b'{"t":"result","id":%d,"ok":true}' % call.id
        size = 4 + len(head) + len(body)
        if size > self._max_frame:
            return _error_body(
                call.id,
                "NOT_SERIALIZABLE",
                "ValueError",
                f"Cannot send result of {call.label}: it encodes to {size} bytes, "
                f"over the frame limit of {self._max_frame} bytes",
            )
        return head, body

    def exception_body(self, call, exc):
        return _error_body(
            call.id, "EXCEPTION", type(exc).__name__, _safe_str(exc), _format_exception(exc)
        )

    def settle(self, call, frame):
        """Sends the call's one result unless it has been sent; callable from any thread.

        frame is an encoded head, or (head, body) from result_body().
        """
        with self._lock:
            if call.settled:
                return
            call.settled = True
            self._calls.pop(call.id, None)
        if type(frame) is tuple:
            self._writer.send(frame[0], frame[1])
        else:
            self._writer.send(frame)

    def _abort(self, call, code, type_name, message):
        """Answers a call still in flight with an error and stops its work where possible.

        A thread in project code gets _CallInterrupted, which a blocking C call delays
        until it returns; an object's constructor is left to finish, since other calls
        share the object. Either way the call is abandoned until its thread is done. A
        queued sync call is dropped when its turn comes, and an async call's task is
        cancelled.
        """
        with self._lock:
            if call.settled:
                return
            call.settled = True
            self._calls.pop(call.id, None)
            abandoned = call.busy
            if abandoned:
                call.abandoned = True
                self._abandoned.add(call)
                if call.thread is not None:
                    _raise_in_thread(call.thread, _CallInterrupted)
            is_async = call.is_async
        if is_async:
            self._event_loop.cancel(call)
        self._writer.send(_error_body(call.id, code, type_name, message, abandoned=abandoned))
        if abandoned:
            with self._lock:
                call.reported = True
                owed = not call.busy
            if owed:
                self._release(call)

    def _release(self, call):
        """Reports that an abandoned call's thread has left project code."""
        with self._lock:
            self._abandoned.discard(call)
        self._writer.send(_encode({"t": "settled", "id": call.id}))

    def _expire(self, call, timeout):
        self._abort(
            call,
            "TIMEOUT",
            "TimeoutError",
            f"Call timed out: {call.label} ran longer than {_format_seconds(timeout)} s",
        )

    def _on_cancel(self, message):
        call_id = message.get("id")
        call = self._calls.get(call_id) if type(call_id) is int else None
        if call is None:
            return
        self._abort(
            call,
            "CANCELLED",
            "CancelledError",
            f"Call cancelled: {call.label} was cancelled before it finished",
        )

    # Safety stop

    def _on_safety_stop(self, message):
        request_id = message.get("id")
        if type(request_id) is not int:
            _log(f"ignoring safety_stop with id {_safe_repr(request_id)}: it must be an integer")
            return
        threading.Thread(
            target=self._safety_stop, args=(request_id,), name="safety-stop", daemon=True
        ).start()

    def _safety_stop(self, request_id):
        hooks = []
        stop = getattr(self._module, "stop", None)
        if callable(stop):
            hooks.append(("stop", stop))
        for name, target in list(self._targets.items()):
            try:
                hook = getattr(target, "stop", None)
            except Exception:
                hook = None
            if callable(hook):
                hooks.append((name + ".stop", hook))
        ran = []
        errors = []
        for label, hook in hooks:
            try:
                finished = self._run_hook(hook)
            except BaseException as exc:
                errors.append(f"{label}: {type(exc).__name__}: {_safe_str(exc)}")
            else:
                if finished:
                    ran.append(label)
                else:
                    errors.append(
                        f"{label}: did not finish within {_format_seconds(STOP_HOOK_TIMEOUT)} s"
                    )
        result = {"ran": ran, "errors": errors}
        self._writer.send(_encode({"t": "result", "id": request_id, "ok": True, "result": result}))

    def _run_hook(self, hook):
        """Runs one stop hook; returns whether it finished in time, raises what it raised."""
        deadline = time.monotonic() + STOP_HOOK_TIMEOUT
        if inspect.iscoroutinefunction(hook):
            result = hook()
        else:
            # A thread of its own: the pool may be full of the very calls being stopped, and
            # a hook that hangs must not keep the later hooks from running.
            outcome = []
            thread = threading.Thread(
                target=_call_hook, args=(hook, outcome), name="safety-stop", daemon=True
            )
            thread.start()
            thread.join(STOP_HOOK_TIMEOUT)
            if not outcome:
                return False
            result, error = outcome[0]
            if error is not None:
                raise error
        if not inspect.isawaitable(result):
            return True
        finished, _ = self._get_event_loop().wait(result, max(0.0, deadline - time.monotonic()))
        return finished


def _call_hook(hook, outcome):
    try:
        outcome.append((hook(), None))
    except BaseException as exc:
        outcome.append((None, exc))


def _protocol_error(reason):
    _log("protocol error: " + reason)
    return EXIT_PROTOCOL_ERROR


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parse_args(argv):
    parser = argparse.ArgumentParser(description="Serve calls into a deployed Python project.")
    parser.add_argument("--socket", required=True, help="Unix socket the agent listens on")
    parser.add_argument("--project", required=True, help="folder holding the project")
    parser.add_argument("--threads", type=_positive_int, default=8, help="threads for sync calls")
    parser.add_argument(
        "--max-frame", type=_positive_int, default=67108864, help="largest frame in bytes"
    )
    parser.add_argument(
        "--call-timeout",
        type=float,
        default=300.0,
        help="default call timeout in seconds; 0 means none",
    )
    return parser.parse_args(argv)


def _run_host(options):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(options.socket)
    except OSError as exc:
        sock.close()
        _log(f"Cannot connect to the agent: {options.socket}: {exc}")
        return EXIT_USAGE
    return _Host(sock, options).run()


def main(argv=None):
    """Runs the host; never returns."""
    options = _parse_args(argv)
    # The agent decides when the host stops; a Ctrl-C meant for the agent in a terminal
    # (which reaches the whole process group) must not tear the host down mid-call.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):
            pass
    code = _run_host(options)
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads stuck in project code must not keep the process alive.
    os._exit(code)


if __name__ == "__main__":
    main()
