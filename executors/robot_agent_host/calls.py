"""The calls in flight: starting each, and answering each exactly once.

A call is answered (settled) by whichever comes first: its result, sent by the thread
that ran it, its timeout, or a cancel. One answered while its thread still runs project
code is abandoned until that thread leaves it, and then reported ``settled``.
"""

import inspect
import threading

from .codes import BAD_ARGS, CANCELLED, TIMEOUT, UNKNOWN_METHOD, UNKNOWN_OBJECT
from .deadlines import Deadlines
from .discovery import describe_method
from .frames import encode, error_frame, exception_frame, result_frame
from .loop import LazyLoop, close_awaitable
from .pool import Pool
from .report import format_seconds, log, safe_repr

# Results that cannot be awaitable: the usual ones skip inspect.isawaitable's ABC check.
_PLAIN_TYPES = frozenset((type(None), bool, int, float, str, list, dict, tuple))


class _CallInterrupted(BaseException):
    """Raised inside a worker thread to stop a cancelled or timed-out call.

    A BaseException so that project code's ``except Exception`` does not swallow it.
    """


class Call:
    """One call in flight; it is settled (answered) exactly once.

    The fields other threads change are guarded by the call table's lock.
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


def _raise_in_thread(thread_id, exc_type):
    """Asks the interpreter to raise exc_type in a thread at its next bytecode."""
    import ctypes

    set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    if set_async_exc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)) > 1:
        set_async_exc(ctypes.c_ulong(thread_id), None)


def _is_positive_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


class CallTable:
    """Starts calls, on the pool (sync methods) or the event loop (async ones), and settles
    each once; timeouts fire on a thread of their own.

    The lock guards the state of calls that these threads share: whether a call is
    settled, busy or abandoned.
    """

    def __init__(self, writer, project, options):
        self._writer = writer
        self._project = project
        self._targets = project.targets
        self._methods = project.methods
        self._max_frame = options.max_frame
        self._call_timeout = options.call_timeout if options.call_timeout > 0 else None
        self._pool = Pool(options.threads)
        self._deadlines = Deadlines(self._expire)
        self._calls = {}
        self._abandoned = set()
        self._lock = threading.Lock()
        self.loops = LazyLoop(self)

    def use_lazy_pool(self):
        """Replaces the pool, before any call, by a lazy one (see Pool) and returns it."""
        self._pool = Pool(self._pool.size, eager=False)
        return self._pool

    def on_call(self, message):
        call_id = message.get("id")
        if type(call_id) is not int:
            log(f"ignoring call with id {safe_repr(call_id)}: the id must be an integer")
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
                error_frame(call_id, BAD_ARGS, "TypeError", f"Cannot call {label}: {problem}")
            )
            return

        call = Call(call_id, label)
        self._calls[call_id] = call
        if timeout is not None:
            self._deadlines.add(call, timeout)
        target = self._targets.get(object_name) if isinstance(object_name, str) else None
        if target is None:
            target = self._find_target(call, object_name, method_name, args)
            if target is None:
                return
        method = self._prepare(call, target, object_name, method_name, args)
        if method is not None:
            self._pool.submit(self._run_sync, call, method, args)

    def _find_target(self, call, object_name, method_name, args):
        """The object a call names, on its first call; None when the call is settled or
        waits for the object to be made."""
        try:
            target = self._project.find_object(object_name)
        except Exception as exc:
            self.settle(call, self.exception_body(call, exc))
            return None
        if target is None:
            self.settle(call, error_frame(
                call.id,
                UNKNOWN_OBJECT,
                "NameError",
                f"Cannot call {call.label}: the project has no object {object_name!r}",
            ))
            return None
        if isinstance(target, type):
            self._pool.submit(self._build, call, object_name, target, method_name, args)
            return None
        self._targets[object_name] = target
        return target

    def _build(self, call, object_name, cls, method_name, args):
        """On a pool thread: creates the call's object on first use, then runs the call."""
        with self._lock:
            if call.settled:
                return
            call.busy = True
        instance, error = self._project.instantiate(object_name, cls)
        if self._leave(call):
            return
        if error is not None:
            self.settle(call, self.exception_body(call, error))
            return
        method = self._prepare(call, instance, object_name, method_name, args)
        if method is not None:
            self._run_sync(call, method, args)

    def _prepare(self, call, target, object_name, method_name, args):
        """Checks a call against its method and starts it if async.

        Returns the sync method to run, or None when the call is settled or on the loop.
        """
        key = (object_name, method_name)
        entry = self._methods.get(key) if isinstance(method_name, str) else None
        try:
            if entry is None:
                entry = describe_method(target, method_name)
                if entry is None:
                    self.settle(call, error_frame(
                        call.id,
                        UNKNOWN_METHOD,
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
                    self.settle(call, error_frame(
                        call.id, BAD_ARGS, "TypeError", f"Cannot call {call.label}: {exc}"
                    ))
                    return None
            if not is_async:
                return method
            awaitable = method(**args)
            call.is_async = True
            self.loops.get().start(call, awaitable)
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
                self.loops.get().start(call, result)
            else:
                close_awaitable(result)
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
        return result_frame(call.id, call.label, result, self._max_frame)

    def exception_body(self, call, exc):
        return exception_frame(call.id, exc)

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
            self.loops.current.cancel(call)
        self._writer.send(error_frame(call.id, code, type_name, message, abandoned=abandoned))
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
        self._writer.send(encode({"t": "settled", "id": call.id}))

    def _expire(self, call, timeout):
        self._abort(
            call,
            TIMEOUT,
            "TimeoutError",
            f"Call timed out: {call.label} ran longer than {format_seconds(timeout)} s",
        )

    def on_cancel(self, message):
        call_id = message.get("id")
        call = self._calls.get(call_id) if type(call_id) is int else None
        if call is None:
            return
        self._abort(
            call,
            CANCELLED,
            "CancelledError",
            f"Call cancelled: {call.label} was cancelled before it finished",
        )

    def cancel_all(self):
        """Answers every call in flight CANCELLED, as the host shuts down."""
        with self._lock:
            calls = list(self._calls.values())
        for call in calls:
            self._abort(
                call,
                CANCELLED,
                "CancelledError",
                f"Call cancelled: {call.label} was still running when the host shut down",
            )

    def status(self):
        """The result of a ``status`` request."""
        with self._lock:
            return {
                "in_flight": len(self._calls),
                "abandoned": sorted(call.id for call in self._abandoned),
                "threads": threading.active_count(),
            }
