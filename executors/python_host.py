"""Host process that imports a deployed Python project and serves calls to it.

The agent's worker listens on a Unix socket and starts::

    python3 python_host.py --socket PATH --project DIR [--threads N]
        [--max-frame BYTES] [--call-timeout SECONDS]

The host connects to PATH. Frames in both directions are a 4-byte big-endian length
followed by that many bytes of UTF-8 JSON holding one object. The socket carries
nothing else, so the project's print() output (stdout and stderr stay with the
process; the agent pipes them into its log) can never corrupt the channel.

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

``{"t": "status", "id": N}`` is answered with ``{"t": "result", "id": N, "ok": true,
"result": {"in_flight": K, "abandoned": [ids], "threads": T}}``: calls not yet
answered, abandoned calls not yet settled, and the live Python threads in the process.

Exit codes: 0 after ``shutdown`` or when the agent closes the socket, 1 when the project
fails to load, 2 on bad arguments or when the socket cannot be reached, 3 on a protocol
error (a frame over the limit, or a frame that is not a JSON object).

Stdlib only; runs on Python 3.8.
"""

import argparse
import asyncio
import ctypes
import importlib.util
import inspect
import json
import os
import signal
import struct
import sys
import sysconfig
import threading
import traceback
import types
from concurrent.futures import ThreadPoolExecutor

EXIT_OK = 0
EXIT_LOAD_FAILED = 1
EXIT_USAGE = 2
EXIT_PROTOCOL_ERROR = 3

# A safety stop must answer even when a hook hangs, so each hook gets this long.
STOP_HOOK_TIMEOUT = 10.0
# How long the last frames may take to flush before the process exits anyway.
CLOSE_TIMEOUT = 5.0

_HEADER = struct.Struct(">I")
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_HOST_FILE = os.path.abspath(__file__)
_STDLIB_DIR = os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep
_NOT_OBJECTS = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
)
_stdlib_modules = {}


class _CallInterrupted(BaseException):
    """Raised inside a worker thread to stop a cancelled or timed-out call.

    A BaseException so that project code's ``except Exception`` does not swallow it.
    """


class _Call:
    """One call in flight; it is settled (answered) exactly once."""

    __slots__ = (
        "id", "label", "settled", "timer", "task", "future", "thread", "building", "abandoned"
    )

    def __init__(self, call_id, label):
        self.id = call_id
        self.label = label
        self.settled = False
        self.timer = None
        self.task = None
        # The pool future running the method, or creating its object while building.
        self.future = None
        self.thread = None
        self.building = False
        # Answered while its thread still ran project code; a "settled" frame is owed.
        self.abandoned = False


def _log(message):
    sys.stderr.write("python_host: " + message + "\n")
    sys.stderr.flush()


def _frame(message):
    body = _ENCODER.encode(message).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def _error_frame(call_id, code, type_name, message, formatted_traceback=None, abandoned=None):
    error = {"code": code, "type": type_name, "message": message, "traceback": formatted_traceback}
    if abandoned is not None:
        error["abandoned"] = abandoned
    return _frame({"t": "result", "id": call_id, "ok": False, "error": error})


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
    tb = exc.__traceback__
    while tb is not None and _is_host_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _is_host_frame(filename):
    return filename == _HOST_FILE or filename.startswith("<frozen importlib")


def _format_seconds(seconds):
    return "%g" % seconds


def _raise_in_thread(thread_id, exc_type):
    """Asks the interpreter to raise exc_type in a thread at its next bytecode."""
    set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    if set_async_exc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)) > 1:
        set_async_exc(ctypes.c_ulong(thread_id), None)


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
    """(method, signature or None, is_async) for a public method of target, else None."""
    if not isinstance(name, str) or not _is_public_method(target, name):
        return None
    method = getattr(target, name)
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        signature = None
    return method, signature, inspect.iscoroutinefunction(method)


def _is_positive_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


class _Channel(asyncio.Protocol):
    """Splits the byte stream into frames and hands each decoded message to the host."""

    def __init__(self, host, max_frame):
        self._host = host
        self._max_frame = max_frame
        self._buffer = bytearray()

    def connection_made(self, transport):
        # Calls wait until the project is loaded and "ready" has gone out.
        transport.pause_reading()
        self._host.attach(transport)

    def data_received(self, data):
        buffer = self._buffer
        buffer += data
        size = len(buffer)
        start = 0
        host = self._host
        while size - start >= 4 and not host.closing:
            length = _HEADER.unpack_from(buffer, start)[0]
            if length > self._max_frame:
                host.protocol_error(
                    f"frame length {length} exceeds the limit of {self._max_frame} bytes"
                )
                return
            end = start + 4 + length
            if end > size:
                break
            try:
                message = json.loads(buffer[start + 4:end])
            except ValueError as exc:
                host.protocol_error(f"frame is not valid UTF-8 JSON: {exc}")
                return
            start = end
            host.handle(message)
        if start:
            del buffer[:start]

    def eof_received(self):
        self._host.request_exit(EXIT_OK)

    def connection_lost(self, exc):
        self._host.connection_lost()


class _Host:
    """Loads the project, then answers the agent's messages on the event loop thread."""

    def __init__(self, loop, options):
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._project_dir = os.path.abspath(options.project)
        self._max_frame = options.max_frame
        self._call_timeout = options.call_timeout if options.call_timeout > 0 else None
        self._pool = ThreadPoolExecutor(max_workers=options.threads)
        self._transport = None
        self._closed = False
        self._stopping = loop.create_future()
        self._lost = loop.create_future()
        self._module = None
        self._targets = {}
        self._methods = {}
        self._calls = {}
        self._abandoned = set()
        self._background = set()
        # Guards _Call.thread so an interrupt is raised only while project code runs.
        self._thread_lock = threading.Lock()
        self._instantiate_lock = threading.Lock()
        self._handlers = {
            "call": self._on_call,
            "cancel": self._on_cancel,
            "safety_stop": self._on_safety_stop,
            "status": self._on_status,
            "shutdown": self._on_shutdown,
        }

    # Channel

    def attach(self, transport):
        self._transport = transport

    @property
    def closing(self):
        return self._stopping.done()

    def request_exit(self, code):
        if not self._stopping.done():
            self._stopping.set_result(code)

    def protocol_error(self, reason):
        _log("protocol error: " + reason)
        self.request_exit(EXIT_PROTOCOL_ERROR)

    def connection_lost(self):
        self._closed = True
        self.request_exit(EXIT_OK)
        if not self._lost.done():
            self._lost.set_result(None)

    def handle(self, message):
        if type(message) is not dict:
            self.protocol_error("frame is not a JSON object")
            return
        kind = message.get("t")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            _log(f"ignoring message of unknown type {_safe_repr(kind)}")
            return
        try:
            handler(message)
        except Exception:
            # A bug here must not take the channel down with it.
            _log(f"internal error handling a {kind} message:\n{traceback.format_exc()}")

    def _write(self, frame):
        if not self._closed:
            self._transport.write(frame)

    def _write_from_any_thread(self, frame):
        if threading.get_ident() == self._loop_thread:
            self._write(frame)
        else:
            self._loop.call_soon_threadsafe(self._write, frame)

    def push_message(self, event, data=None):
        """Sends an event to the agent; callable from any thread or coroutine.

        Data that JSON cannot encode is sent as its repr() string.
        """
        if not isinstance(event, str):
            raise TypeError(
                f"Cannot push message: event must be a string, got {type(event).__name__}"
            )
        try:
            body = _ENCODER.encode({"t": "event", "event": event, "data": data})
        except Exception:
            body = _ENCODER.encode({"t": "event", "event": event, "data": _safe_repr(data)})
        body = body.encode("utf-8")
        if len(body) > self._max_frame:
            raise ValueError(
                f"Cannot push message {event!r}: it encodes to {len(body)} bytes, "
                f"over the frame limit of {self._max_frame} bytes"
            )
        self._write_from_any_thread(_HEADER.pack(len(body)) + body)

    # Lifecycle

    async def run(self):
        """Loads the project, serves until told to stop, and returns the exit code."""
        try:
            self._module = await self._load()
            objects = self._describe_objects()
        except BaseException as exc:
            error = {
                "code": "START_FAILED",
                "type": type(exc).__name__,
                "message": _safe_str(exc),
                "traceback": _format_exception(exc),
            }
            self._write(_frame({"t": "load_error", "error": error}))
            code = EXIT_LOAD_FAILED
        else:
            self._write(_frame({
                "t": "ready",
                "objects": objects,
                "python": "%d.%d.%d" % sys.version_info[:3],
                "pid": os.getpid(),
            }))
            self._transport.resume_reading()
            code = await self._stopping
        self._closed = True
        self._transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), CLOSE_TIMEOUT)
        except asyncio.TimeoutError:
            _log(f"closing the socket took longer than {_format_seconds(CLOSE_TIMEOUT)} s")
        return code

    async def _load(self):
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
                await result
        return module

    def _describe_objects(self):
        objects = {}
        for name in list(vars(self._module)):
            value = self._find_object(name)
            if value is not None:
                objects[name] = _public_methods(value)
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

    def _on_shutdown(self, message):
        for call in list(self._calls.values()):
            self._abort(
                call,
                "CANCELLED",
                "CancelledError",
                f"Call cancelled: {call.label} was still running when the host shut down",
            )
        self.request_exit(EXIT_OK)

    def _on_status(self, message):
        request_id = message.get("id")
        if type(request_id) is not int:
            _log(f"ignoring status with id {_safe_repr(request_id)}: it must be an integer")
            return
        result = {
            "in_flight": len(self._calls),
            "abandoned": sorted(call.id for call in self._abandoned),
            "threads": threading.active_count(),
        }
        self._write(_frame({"t": "result", "id": request_id, "ok": True, "result": result}))

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
            self._write(
                _error_frame(call_id, "BAD_ARGS", "TypeError", f"Cannot call {label}: {problem}")
            )
            return

        call = _Call(call_id, label)
        self._calls[call_id] = call
        if timeout is not None:
            call.timer = self._loop.call_later(timeout, self._expire, call, timeout)
        target = self._targets.get(object_name) if isinstance(object_name, str) else None
        if target is not None:
            self._invoke(call, target, object_name, method_name, args)
            return
        try:
            value = self._find_object(object_name)
        except Exception as exc:
            self._settle(call, self._exception_frame(call, exc))
            return
        if value is None:
            self._settle(call, _error_frame(
                call_id,
                "UNKNOWN_OBJECT",
                "NameError",
                f"Cannot call {label}: the project has no object {object_name!r}",
            ))
        elif isinstance(value, type):
            call.building = True
            future = call.future = self._pool.submit(self._instantiate, object_name, value)
            future.add_done_callback(
                lambda done: self._loop.call_soon_threadsafe(
                    self._on_instantiated, call, object_name, method_name, args, done
                )
            )
        else:
            self._targets[object_name] = value
            self._invoke(call, value, object_name, method_name, args)

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

    def _on_instantiated(self, call, object_name, method_name, args, future):
        call.building = False
        if call.settled:
            if call.abandoned:
                self._release(call)
            return
        instance, error = future.result()
        if error is not None:
            self._settle(call, self._exception_frame(call, error))
        else:
            self._invoke(call, instance, object_name, method_name, args)

    def _invoke(self, call, target, object_name, method_name, args):
        key = (object_name, method_name)
        entry = self._methods.get(key) if isinstance(method_name, str) else None
        try:
            if entry is None:
                entry = _describe_method(target, method_name)
                if entry is None:
                    self._settle(call, _error_frame(
                        call.id,
                        "UNKNOWN_METHOD",
                        "AttributeError",
                        f"Cannot call {call.label}: {object_name!r} has no public method "
                        f"{method_name!r}",
                    ))
                    return
                self._methods[key] = entry
            method, signature, is_async = entry
            if signature is not None:
                try:
                    signature.bind(**args)
                except TypeError as exc:
                    self._settle(call, _error_frame(
                        call.id, "BAD_ARGS", "TypeError", f"Cannot call {call.label}: {exc}"
                    ))
                    return
            if is_async:
                call.task = self._loop.create_task(self._run_async(call, method(**args)))
            else:
                call.future = self._pool.submit(self._run_sync, call, method, args)
        except Exception as exc:
            # Project code runs here too (__getattr__, descriptors, decorators).
            self._settle(call, self._exception_frame(call, exc))

    def _run_sync(self, call, method, args):
        """Runs a sync method in a pool thread and hands its frame back to the loop."""
        try:
            self._run_method(call, method, args)
        finally:
            # The thread has left project code, so no interrupt can mark the call now.
            if call.abandoned:
                self._loop.call_soon_threadsafe(self._release, call)

    def _run_method(self, call, method, args):
        try:
            with self._thread_lock:
                if call.settled:
                    return
                call.thread = threading.get_ident()
            try:
                result = method(**args)
            finally:
                # An interrupt raised before this lock is taken surfaces here at the
                # latest, so it can never escape into the pool's own code.
                with self._thread_lock:
                    call.thread = None
        except _CallInterrupted:
            return
        except BaseException as exc:
            frame = self._exception_frame(call, exc)
        else:
            if inspect.isawaitable(result):
                self._loop.call_soon_threadsafe(self._start_awaitable, call, result)
                return
            frame = self._result_frame(call, result)
        self._loop.call_soon_threadsafe(self._settle, call, frame)

    def _start_awaitable(self, call, awaitable):
        if call.settled:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            return
        call.task = asyncio.ensure_future(self._run_async(call, awaitable))

    async def _run_async(self, call, awaitable):
        try:
            result = await awaitable
        except BaseException as exc:
            # Includes the CancelledError of our own cancel; the call is settled then.
            if not call.settled:
                self._settle(call, self._exception_frame(call, exc))
            return
        if not call.settled:
            self._settle(call, self._result_frame(call, result))

    def _result_frame(self, call, result):
        try:
            body = _ENCODER.encode({"t": "result", "id": call.id, "ok": True, "result": result})
        except Exception as exc:
            return _error_frame(
                call.id,
                "NOT_SERIALIZABLE",
                type(exc).__name__,
                f"Cannot encode result of {call.label} as JSON: {exc}",
            )
        body = body.encode("utf-8")
        if len(body) > self._max_frame:
            return _error_frame(
                call.id,
                "NOT_SERIALIZABLE",
                "ValueError",
                f"Cannot send result of {call.label}: it encodes to {len(body)} bytes, "
                f"over the frame limit of {self._max_frame} bytes",
            )
        return _HEADER.pack(len(body)) + body

    def _exception_frame(self, call, exc):
        return _error_frame(
            call.id, "EXCEPTION", type(exc).__name__, _safe_str(exc), _format_exception(exc)
        )

    def _settle(self, call, frame):
        """Sends the call's one result unless it has been sent; returns whether it sent."""
        if not self._mark_settled(call):
            return False
        self._write(frame)
        return True

    def _mark_settled(self, call):
        if call.settled:
            return False
        call.settled = True
        del self._calls[call.id]
        if call.timer is not None:
            call.timer.cancel()
        return True

    def _abort(self, call, code, type_name, message):
        """Answers a call still in flight with an error and stops its work where possible."""
        # Settled first: a queued sync call that starts meanwhile then returns at once.
        if not self._mark_settled(call):
            return
        abandoned = self._interrupt(call)
        if abandoned:
            self._abandoned.add(call)
        self._write(_error_frame(call.id, code, type_name, message, abandoned=abandoned))

    def _release(self, call):
        """Reports that an abandoned call's thread has left project code."""
        self._abandoned.discard(call)
        self._write(_frame({"t": "settled", "id": call.id}))

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

    def _interrupt(self, call):
        """Stops a settled call's work where possible; returns whether it may still run.

        A thread in project code gets _CallInterrupted, which a blocking C call delays
        until it returns; an object's constructor is left to finish, since other calls
        share the object. Either way the call is abandoned until its thread is done.
        """
        if call.task is not None:
            call.task.cancel()
            return False
        future = call.future
        if future is None or future.cancel():
            return False
        if call.building:
            # Done already means _on_instantiated is queued and sees the call settled.
            call.abandoned = not future.done()
            return call.abandoned
        with self._thread_lock:
            if call.thread is not None:
                call.abandoned = True
                _raise_in_thread(call.thread, _CallInterrupted)
        return call.abandoned

    # Safety stop

    def _on_safety_stop(self, message):
        request_id = message.get("id")
        if type(request_id) is not int:
            _log(f"ignoring safety_stop with id {_safe_repr(request_id)}: it must be an integer")
            return
        task = self._loop.create_task(self._safety_stop(request_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _safety_stop(self, request_id):
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
                await asyncio.wait_for(self._run_hook(hook), STOP_HOOK_TIMEOUT)
            except asyncio.TimeoutError:
                errors.append(
                    f"{label}: did not finish within {_format_seconds(STOP_HOOK_TIMEOUT)} s"
                )
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                errors.append(f"{label}: {type(exc).__name__}: {_safe_str(exc)}")
            else:
                ran.append(label)
        result = {"ran": ran, "errors": errors}
        self._write(_frame({"t": "result", "id": request_id, "ok": True, "result": result}))

    async def _run_hook(self, hook):
        if inspect.iscoroutinefunction(hook):
            result = hook()
        else:
            # A thread of its own: the pool may be full of the very calls being stopped.
            future = self._loop.create_future()
            threading.Thread(
                target=self._call_hook, args=(hook, future), name="safety-stop", daemon=True
            ).start()
            result = await future
        if inspect.isawaitable(result):
            await result

    def _call_hook(self, hook, future):
        try:
            result = hook()
        except BaseException as exc:
            self._loop.call_soon_threadsafe(_resolve, future, None, exc)
        else:
            self._loop.call_soon_threadsafe(_resolve, future, result, None)


def _resolve(future, result, error):
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


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


async def _serve(loop, options):
    host = _Host(loop, options)
    try:
        await loop.create_unix_connection(
            lambda: _Channel(host, options.max_frame), options.socket
        )
    except OSError as exc:
        _log(f"Cannot connect to the agent: {options.socket}: {exc}")
        return EXIT_USAGE
    return await host.run()


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
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    code = loop.run_until_complete(_serve(loop, options))
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads stuck in project code must not keep the process alive.
    os._exit(code)


if __name__ == "__main__":
    main()
