"""The host's lifecycle and its protocol: load the project, then serve the agent's messages.

The agent's worker listens on a Unix socket and starts (from the folder holding this
package, see __init__.py)::

    python3 -m robot_agent_host (--socket PATH | --socket-fd N) --project DIR [--threads N]
        [--max-frame BYTES] [--call-timeout SECONDS]

The host connects to PATH, or speaks on fd N: the connection the launcher
(robot_agent_sandbox) made before it confined the host. A frame, in both directions, is a
4-byte big-endian length of the rest, a 4-byte big-endian length of the head, the head
(UTF-8 JSON holding one object), then the body: JSON text that crosses the agent's
processes without being decoded and encoded again on the way. Only three frames may have
one, for JSON over 1 KiB (a smaller one is cheaper to parse): a ``call`` (its args), a
``result`` (the result) and an ``event`` (its data).
The socket carries nothing else, so the project's print() output (stdout and stderr stay
with the process; the agent pipes them into its log) can never corrupt the channel.

Host -> agent: one ``ready`` (or ``load_error``, then exit 1), then ``result`` frames,
exactly one per call id, ``event`` frames from ``push_message``, and ``settled`` frames.
``ready`` carries ``"ready"``: what the project's optional module-level ``ready()``
returned, as a bool (``null`` when it has none); it runs after ``init()``. A
``load_error``'s error names the project ``file`` and ``line`` that raised (``null`` when
none of its files did): a SyntaxError's position, else the innermost project frame.
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

import os
import select
import socket
import sys

from .calls import CallTable
from .codes import EXIT_LOAD_FAILED, EXIT_OK, START_FAILED
from .frames import READ_SIZE, FrameReader, Writer, encode, event_frame, protocol_error
from .pool import GROW_AFTER, GROW_LATE
from .project import Project
from .report import (
    exception_location,
    format_current_exception,
    format_exception,
    format_seconds,
    log,
    safe_repr,
    safe_str,
)
from .safety import SafetyStop

# How long the last frame being written may take before the process exits anyway.
CLOSE_TIMEOUT = 5.0


class Host:
    """Loads the project, then reads the agent's messages on the main thread.

    Calls go to the call table, safety stops to their own thread; the rest is answered
    here.
    """

    def __init__(self, sock, options):
        self._sock = sock
        self._writer = Writer(sock)
        self._max_frame = options.max_frame
        self._project = Project(options.project)
        self._calls = CallTable(self._writer, self._project, options)
        self._loops = self._calls.loops
        self._safety = SafetyStop(self._writer, self._project, self._loops)
        self._reader = FrameReader(options.max_frame, self._handle)
        self._handlers = {
            "call": self._calls.on_call,
            "cancel": self._calls.on_cancel,
            "safety_stop": self._safety.on_safety_stop,
            "status": self._on_status,
            "shutdown": self._on_shutdown,
        }

    def push_message(self, event, data=None):
        """Sends an event to the agent; callable from any thread or coroutine.

        Data that JSON cannot encode is sent as its repr() string.
        """
        head, body = event_frame(event, data, self._max_frame)
        self._writer.send(head, body)

    # Lifecycle

    def run(self):
        """Loads the project, serves until told to stop, and returns the exit code."""
        try:
            self._project.load(self.push_message, self._loops)
            ready = self._project.ready(self._loops)
            objects, has_async_methods = self._project.describe()
        except BaseException as exc:
            file, line = exception_location(exc, self._project.directory)
            error = {
                "code": START_FAILED,
                "type": type(exc).__name__,
                "message": safe_str(exc),
                "traceback": format_exception(exc),
                "file": file,
                "line": line,
            }
            self._writer.send(encode({"t": "load_error", "error": error}))
            code = EXIT_LOAD_FAILED
        else:
            ready_message = {
                "t": "ready",
                "objects": objects,
                "python": "%d.%d.%d" % sys.version_info[:3],
                "pid": os.getpid(),
                "ready": ready,
            }
            described = self._project.descriptions(objects)
            if described is not None:
                ready_message["describe"] = described
            self._writer.send(encode(ready_message))
            if has_async_methods:
                code = self._serve_on_loop()
            else:
                code = self._serve()
        if not self._writer.close(CLOSE_TIMEOUT):
            log(f"closing the socket took longer than {format_seconds(CLOSE_TIMEOUT)} s")
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        return code

    # Channel

    def _serve(self):
        """Reads frames on this thread, blocking, until the host must stop; returns the exit code.

        For a project without async methods: a sync call then costs one hand-off, to a pool
        thread, and any event loop gets a thread of its own.
        """
        # Lazy: this thread grows it when its queue stands still.
        pool = self._calls.use_lazy_pool()
        self._loops.run_in_thread()
        if "asyncio" in sys.modules:
            # Adopt now, on the main thread, any loop the project's import made current.
            self._loops.get()
        sock = self._sock
        chunk = bytearray(READ_SIZE)
        view = memoryview(chunk)
        feed = self._reader.feed
        while True:
            stalled = pool.stalled_for()
            if stalled is not None and (
                stalled >= GROW_LATE
                or not select.select([sock], [], [], max(0.0, GROW_AFTER - stalled))[0]
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
            code = feed(view[:received])
            if code is not None:
                return code

    def _serve_on_loop(self):
        """Reads frames on the event loop, run on this thread, until the host must stop.

        For a project with async methods: an async call then costs no hand-off at all, and
        a sync call one, to a pool thread, as with _serve.
        """
        events = self._loops.get()
        loop = events.loop
        sock = self._sock
        fd = sock.fileno()
        chunk = bytearray(READ_SIZE)
        view = memoryview(chunk)
        feed = self._reader.feed
        stopped = loop.create_future()

        def on_readable():
            try:
                # The socket stays blocking for the threads that write to it.
                received = sock.recv_into(chunk, READ_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                received = 0
            code = feed(view[:received]) if received else EXIT_OK
            if code is not None:
                loop.remove_reader(fd)
                stopped.set_result(code)

        loop.add_reader(fd, on_readable)
        return events.run_until(stopped)

    def _handle(self, message):
        """Handles one message; returns an exit code when the host must stop."""
        if type(message) is not dict:
            return protocol_error("frame is not a JSON object")
        kind = message.get("t")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            log(f"ignoring message of unknown type {safe_repr(kind)}")
            return None
        try:
            return handler(message)
        except Exception:
            # A bug here must not take the channel down with it.
            log(f"internal error handling a {kind} message:\n{format_current_exception()}")
            return None

    def _on_shutdown(self, message):
        self._calls.cancel_all()
        return EXIT_OK

    def _on_status(self, message):
        request_id = message.get("id")
        if type(request_id) is not int:
            log(f"ignoring status with id {safe_repr(request_id)}: it must be an integer")
            return
        result = self._calls.status()
        self._writer.send(encode({"t": "result", "id": request_id, "ok": True, "result": result}))
