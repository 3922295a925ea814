"""Tests of python_host.py over a real Unix socket, and of the default project.

Each test starts the real host as a subprocess against a small project written to a
temporary folder, plays the agent's side of the protocol and checks the frames that come
back. Every wait is bounded by WAIT seconds. Runs on Python 3.8 with the stdlib only.
"""

import importlib.util
import json
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = os.path.join(HERE, "python_host.py")
DEFAULT_PROJECT = os.path.join(HERE, "default_project")
WAIT = 10.0
# Calls meant to be cancelled sleep this long: far beyond WAIT, so a reply before the
# socket times out proves the cancel did not wait for them.
LONG = 60

SAMPLE = """
import asyncio
import threading
import time

events = {}


def init():
    events["init"] = True
    push_message("hello", {"from": "init"})


class Counter:
    created = 0

    def __init__(self):
        Counter.created += 1
        self.count = 0

    def inc(self, by=1):
        self.count += by
        return self.count

    def instances(self):
        return Counter.created

    def _hidden(self):
        return "hidden"


class _Robot:
    label = "not a method"

    def add(self, a, b):
        return a + b

    def echo(self, value):
        return value

    def init_ran(self):
        return events.get("init", False)

    async def twice(self, x):
        await asyncio.sleep(0.01)
        return 2 * x

    def boom(self):
        raise ValueError("boom")

    def exit(self):
        raise SystemExit(3)

    async def async_exit(self):
        raise SystemExit(4)

    def returns_coroutine(self):
        return self.twice(3)

    def bad_set(self):
        return {1, 2}

    def bad_nan(self):
        return float("nan")

    def big(self, size):
        return "\u00e9" * size

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds

    def sleep_in_steps(self, seconds):
        events["interrupted"] = threading.Event()
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                time.sleep(0.01)
        except BaseException as exc:
            events["interrupt_type"] = type(exc).__name__
            events["interrupted"].set()
            raise
        return "finished"

    def spin(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pass
        return "finished"

    def was_interrupted(self):
        events["interrupted"].wait(5)
        return events.get("interrupt_type")

    async def async_sleep(self, seconds):
        events["async_cancelled"] = asyncio.Event()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            events["async_cancelled"].set()
            raise
        return "finished"

    async def async_was_cancelled(self):
        await asyncio.wait_for(events["async_cancelled"].wait(), 5)
        return True

    def fast(self):
        return "fast"

    def push_from_thread(self):
        done = threading.Event()

        def worker():
            push_message("tick", {"n": 1})
            push_message("odd", {1, 2})
            done.set()

        threading.Thread(target=worker).start()
        done.wait(5)
        return "pushed"

    def noisy(self):
        import sys

        print("printed line")
        sys.stdout.write("\\x00\\x00\\x00\\x05{}{}")
        sys.stdout.flush()
        print("to stderr", file=sys.stderr)
        return "quiet"

    def stop(self):
        events["robot_stopped"] = True


class Flaky:
    def __init__(self):
        raise ConnectionError("robot unreachable")

    def ping(self):
        return "pong"


robot = _Robot()
pi = 3.14
names = ["a"]


def helper():
    return 1
"""


# A project without async methods, which the host serves without an event loop.
SYNC_SAMPLE = """
import time


class _Robot:
    def add(self, a, b):
        return a + b

    def echo(self, value):
        return value

    def fast(self):
        return "fast"

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds


robot = _Robot()
"""


def write_project(files):
    """Writes {relative path: source} to a new temporary folder and returns it."""
    directory = tempfile.mkdtemp(prefix="project-")
    for name, source in files.items():
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as file:
            file.write(textwrap.dedent(source))
    return directory


def encode(message):
    head = json.dumps(message).encode("utf-8")
    return struct.pack(">II", 4 + len(head), len(head)) + head


class Host:
    """One host subprocess connected to a listening socket that plays the agent."""

    def __init__(self, project, *options):
        self.folder = tempfile.mkdtemp(prefix="host-")
        path = os.path.join(self.folder, "agent.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.settimeout(WAIT)
        listener.bind(path)
        listener.listen(1)
        self.process = subprocess.Popen(
            [sys.executable, HOST, "--socket", path, "--project", project] + list(options),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            self.conn, _ = listener.accept()
        except BaseException:
            self.close()
            raise
        finally:
            listener.close()
        self.conn.settimeout(WAIT)
        self.pending = []
        self.stdout = b""
        self.stderr = b""

    def send(self, message):
        self.conn.sendall(encode(message))

    def call(self, call_id, obj, method, args=None, **fields):
        message = {"t": "call", "id": call_id, "object": obj, "method": method}
        message["args"] = {} if args is None else args
        message.update(fields)
        self.send(message)

    def _read_exactly(self, size):
        data = b""
        while len(data) < size:
            chunk = self.conn.recv(size - len(data))
            if not chunk:
                raise EOFError("host closed the socket")
            data += chunk
        return data

    def read_raw_frame(self):
        """(head, body bytes) of the next frame."""
        length, head_length = struct.unpack(">II", self._read_exactly(8))
        rest = self._read_exactly(length - 4)
        return json.loads(rest[:head_length].decode("utf-8")), rest[head_length:]

    def read_frame(self):
        """The next frame's head, with its body decoded into "result" (results) or "data"
        (events), the only frames that have one."""
        head, body = self.read_raw_frame()
        if body:
            key = {"result": "result", "event": "data"}[head["t"]]
            assert key not in head, head
            head[key] = json.loads(body.decode("utf-8"))
        return head

    def expect(self, predicate):
        """The first frame, pending or new, that matches; other frames stay pending."""
        for index, frame in enumerate(self.pending):
            if predicate(frame):
                return self.pending.pop(index)
        while True:
            frame = self.read_frame()
            if predicate(frame):
                return frame
            self.pending.append(frame)

    def result(self, call_id):
        return self.expect(lambda f: f.get("t") == "result" and f.get("id") == call_id)

    def event(self, name):
        return self.expect(lambda f: f.get("t") == "event" and f.get("event") == name)

    def settled(self, call_id):
        return self.expect(lambda f: f.get("t") == "settled" and f.get("id") == call_id)

    def status(self, request_id):
        self.send({"t": "status", "id": request_id})
        reply = self.result(request_id)
        if not reply["ok"]:
            raise AssertionError(f"status failed: {reply}")
        return reply["result"]

    def ready(self):
        return self.expect(lambda f: f.get("t") in ("ready", "load_error"))

    def ok(self, call_id, obj, method, args=None, **fields):
        """Calls a method and returns its result, failing on an error reply."""
        self.call(call_id, obj, method, args, **fields)
        reply = self.result(call_id)
        if not reply["ok"]:
            raise AssertionError(f"{obj}.{method} failed: {reply['error']}")
        return reply["result"]

    def error(self, call_id, obj, method, args=None, **fields):
        """Calls a method and returns the error of its reply, failing on success."""
        self.call(call_id, obj, method, args, **fields)
        reply = self.result(call_id)
        if reply["ok"]:
            raise AssertionError(f"{obj}.{method} succeeded: {reply['result']}")
        return reply["error"]

    def wait(self):
        """Waits for the process to exit and returns its exit code."""
        try:
            self.stdout, self.stderr = self.process.communicate(timeout=WAIT)
        finally:
            self.close()
        return self.process.returncode

    def close(self):
        if hasattr(self, "conn"):
            self.conn.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()
        shutil.rmtree(self.folder, ignore_errors=True)


class HostTestCase(unittest.TestCase):
    def start(self, files=None, *options, project=None):
        if project is None:
            project = write_project(files if files is not None else {"main.py": SAMPLE})
            self.addCleanup(shutil.rmtree, project, True)
        host = Host(project, *options)
        self.addCleanup(host.close)
        return host

    def start_ready(self, files=None, *options, project=None):
        host = self.start(files, *options, project=project)
        frame = host.ready()
        self.assertEqual(frame["t"], "ready", frame)
        return host


class ReadyTest(HostTestCase):
    def test_ready_lists_project_classes_and_instances_with_public_methods(self):
        host = self.start()
        event = host.read_frame()
        ready = host.read_frame()
        self.assertEqual(event, {"t": "event", "event": "hello", "data": {"from": "init"}})
        self.assertEqual(ready["t"], "ready")
        self.assertEqual(set(ready["objects"]), {"Counter", "Flaky", "robot"})
        self.assertEqual(ready["objects"]["Counter"], ["inc", "instances"])
        self.assertIn("add", ready["objects"]["robot"])
        self.assertIn("twice", ready["objects"]["robot"])
        self.assertNotIn("label", ready["objects"]["robot"])
        self.assertEqual(ready["pid"], host.process.pid)
        self.assertEqual(ready["python"], "%d.%d.%d" % sys.version_info[:3])

    def test_init_runs_before_ready(self):
        host = self.start_ready()
        self.assertTrue(host.ok(1, "robot", "init_ran"))

    def test_async_init_is_awaited(self):
        host = self.start_ready({"main.py": """
            import asyncio
            state = {}

            async def init():
                await asyncio.sleep(0.01)
                state["ready"] = True

            class Probe:
                def ready(self):
                    return state.get("ready", False)
        """})
        self.assertTrue(host.ok(1, "Probe", "ready"))

    def test_package_with_relative_import_loads_as_project(self):
        host = self.start_ready({
            "__init__.py": """
                from .helpers import twice

                class Calc:
                    def double(self, x):
                        return twice(x)

                    def module(self):
                        return __name__
            """,
            "helpers.py": """
                def twice(x):
                    return 2 * x
            """,
        })
        self.assertEqual(host.ok(1, "Calc", "double", {"x": 21}), 42)
        self.assertEqual(host.ok(2, "Calc", "module"), "project")

    def test_import_failure_sends_load_error_and_exits_1(self):
        host = self.start({"main.py": """
            def fail():
                raise RuntimeError("broken on import")

            fail()
        """})
        frame = host.ready()
        self.assertEqual(frame["t"], "load_error")
        error = frame["error"]
        self.assertEqual(error["code"], "START_FAILED")
        self.assertEqual(error["type"], "RuntimeError")
        self.assertEqual(error["message"], "broken on import")
        self.assertIn("in fail", error["traceback"])
        self.assertNotIn("python_host.py", error["traceback"])
        self.assertEqual(host.wait(), 1)

    def test_init_failure_sends_load_error(self):
        host = self.start({"main.py": """
            def init():
                raise OSError("no robot")
        """})
        frame = host.ready()
        self.assertEqual((frame["t"], frame["error"]["type"]), ("load_error", "OSError"))
        self.assertEqual(host.wait(), 1)

    def test_folder_without_project_sends_load_error(self):
        host = self.start({"readme.txt": "nothing to run"})
        frame = host.ready()
        self.assertEqual(frame["error"]["type"], "FileNotFoundError")
        self.assertIn("neither main.py nor __init__.py", frame["error"]["message"])
        self.assertEqual(host.wait(), 1)


class CallTest(HostTestCase):
    def test_sync_call_returns_result(self):
        host = self.start_ready()
        self.assertEqual(host.ok(1, "robot", "add", {"a": 2, "b": 3}), 5)
        text = "h\u00e9llo \u2713"
        self.assertEqual(host.ok(2, "robot", "echo", {"value": text}), text)

    def test_async_call_returns_result(self):
        host = self.start_ready()
        self.assertEqual(host.ok(1, "robot", "twice", {"x": 21}), 42)

    def test_class_is_instantiated_once_and_reused(self):
        host = self.start_ready()
        self.assertEqual(host.ok(1, "Counter", "inc"), 1)
        self.assertEqual(host.ok(2, "Counter", "inc", {"by": 5}), 6)
        self.assertEqual(host.ok(3, "Counter", "instances"), 1)

    def test_concurrent_first_calls_share_one_instance(self):
        host = self.start_ready()
        for call_id in range(1, 6):
            host.call(call_id, "Counter", "inc")
        results = sorted(host.result(call_id)["result"] for call_id in range(1, 6))
        self.assertEqual(results, [1, 2, 3, 4, 5])
        self.assertEqual(host.ok(6, "Counter", "instances"), 1)

    def test_arguments_that_do_not_fit_are_bad_args(self):
        host = self.start_ready()
        error = host.error(1, "robot", "add", {"a": 1})
        self.assertEqual(error["code"], "BAD_ARGS")
        self.assertEqual(
            error["message"], "Cannot call robot.add: missing a required argument: 'b'"
        )
        error = host.error(2, "robot", "add", {"a": 1, "b": 2, "c": 3})
        self.assertEqual(error["code"], "BAD_ARGS")
        self.assertIn("unexpected keyword argument 'c'", error["message"])
        self.assertEqual(host.error(3, "robot", "add", [1, 2])["code"], "BAD_ARGS")
        self.assertEqual(host.error(4, "robot", "fast", timeout=-1)["code"], "BAD_ARGS")

    def test_keyword_only_defaults_kwargs_and_positional_only_parameters(self):
        host = self.start_ready({"main.py": textwrap.dedent("""
            class Shapes:
                def keyword_only(self, a, *, b, c=3):
                    return [a, b, c]

                def any_names(self, a, **rest):
                    return [a, sorted(rest)]

                def positional_only(self, a, /, b=2):
                    return [a, b]
        """)})
        self.assertEqual(host.ok(1, "Shapes", "keyword_only", {"a": 1, "b": 2}), [1, 2, 3])
        error = host.error(2, "Shapes", "keyword_only", {"a": 1})
        self.assertEqual(error["code"], "BAD_ARGS")
        self.assertIn("missing a required argument: 'b'", error["message"])
        result = host.ok(3, "Shapes", "any_names", {"a": 1, "z": 0, "y": 0})
        self.assertEqual(result, [1, ["y", "z"]])
        self.assertEqual(host.error(4, "Shapes", "any_names", {"z": 0})["code"], "BAD_ARGS")
        # A positional-only parameter cannot be passed by name: the call's args are keywords.
        error = host.error(5, "Shapes", "positional_only", {"a": 1})
        self.assertEqual(error["code"], "BAD_ARGS")

    def test_unknown_object(self):
        host = self.start_ready()
        for call_id, name in enumerate(["nope", "_Robot", "helper", "pi", "names", "json"]):
            error = host.error(call_id, name, "add")
            self.assertEqual(error["code"], "UNKNOWN_OBJECT", name)
        self.assertEqual(
            error["message"], "Cannot call json.add: the project has no object 'json'"
        )

    def test_unknown_or_private_method(self):
        host = self.start_ready()
        for call_id, name in enumerate(["fly", "_hidden", "__init__", "created"]):
            self.assertEqual(host.error(call_id, "Counter", name)["code"], "UNKNOWN_METHOD")
        error = host.error(9, "robot", "label")
        self.assertEqual(error["code"], "UNKNOWN_METHOD")
        self.assertEqual(
            error["message"], "Cannot call robot.label: 'robot' has no public method 'label'"
        )

    def test_exception_reports_type_message_and_traceback(self):
        host = self.start_ready()
        error = host.error(1, "robot", "boom")
        self.assertEqual(error["code"], "EXCEPTION")
        self.assertEqual(error["type"], "ValueError")
        self.assertEqual(error["message"], "boom")
        self.assertIn("main.py", error["traceback"])
        self.assertIn("ValueError: boom", error["traceback"])
        self.assertNotIn("python_host.py", error["traceback"])

    def test_system_exit_in_a_call_is_an_exception_not_an_exit(self):
        host = self.start_ready()
        self.assertEqual(host.error(1, "robot", "exit")["type"], "SystemExit")
        self.assertEqual(host.error(2, "robot", "async_exit")["type"], "SystemExit")
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")

    def test_sync_method_returning_a_coroutine_is_awaited(self):
        host = self.start_ready()
        self.assertEqual(host.ok(1, "robot", "returns_coroutine"), 6)

    def test_constructor_failure_is_an_exception_of_the_call(self):
        host = self.start_ready()
        error = host.error(1, "Flaky", "ping")
        self.assertEqual((error["code"], error["type"]), ("EXCEPTION", "ConnectionError"))
        self.assertIn("in __init__", error["traceback"])
        self.assertEqual(host.error(2, "Flaky", "ping")["message"], "robot unreachable")

    def test_malformed_messages_do_not_break_the_host(self):
        host = self.start_ready()
        host.send({"t": "dance"})
        host.send({"t": ["call"]})
        host.send({"t": "call", "id": "1", "object": "robot", "method": "fast"})
        host.send({"t": "cancel", "id": [1]})
        host.send({"t": "status", "id": None})
        self.assertEqual(host.error(1, 7, "fast")["code"], "UNKNOWN_OBJECT")
        self.assertEqual(host.error(2, "robot", ["fast"])["code"], "UNKNOWN_METHOD")
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")
        self.assertEqual([f for f in host.pending if f["t"] == "result"], [])

    def test_result_that_json_cannot_encode_is_not_serializable(self):
        host = self.start_ready()
        error = host.error(1, "robot", "bad_set")
        self.assertEqual(error["code"], "NOT_SERIALIZABLE")
        self.assertEqual(
            error["message"],
            "Cannot encode result of robot.bad_set as JSON: "
            "Object of type set is not JSON serializable",
        )
        self.assertEqual(host.error(2, "robot", "bad_nan")["code"], "NOT_SERIALIZABLE")
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")

    def test_result_over_the_frame_limit_is_not_serializable(self):
        host = self.start_ready(None, "--max-frame", "4096")
        self.assertEqual(len(host.ok(1, "robot", "big", {"size": 500})), 500)
        error = host.error(2, "robot", "big", {"size": 1000})
        self.assertEqual(error["code"], "NOT_SERIALIZABLE")
        self.assertIn("over the frame limit of 4096 bytes", error["message"])

    def test_call_over_its_timeout_times_out(self):
        host = self.start_ready()
        error = host.error(1, "robot", "sleep", {"seconds": LONG}, timeout=0.2)
        self.assertEqual(error["code"], "TIMEOUT")
        self.assertEqual(error["message"], "Call timed out: robot.sleep ran longer than 0.2 s")
        error = host.error(2, "robot", "async_sleep", {"seconds": LONG}, timeout=0.2)
        self.assertEqual(error["code"], "TIMEOUT")

    def test_default_call_timeout_applies(self):
        host = self.start_ready(None, "--call-timeout", "0.3")
        error = host.error(1, "robot", "sleep_in_steps", {"seconds": LONG})
        self.assertEqual(error["code"], "TIMEOUT")
        self.assertEqual(host.ok(2, "robot", "was_interrupted"), "_CallInterrupted")

    def test_slow_sync_call_does_not_block_a_fast_one(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep", {"seconds": LONG})
        self.assertEqual(host.ok(2, "robot", "fast"), "fast")
        self.assertEqual(host.ok(3, "robot", "twice", {"x": 1}), 2)


class SyncPoolTest(HostTestCase):
    """A project without async methods: its calls' pool starts threads only as needed."""

    def test_slow_sync_calls_do_not_block_fast_ones(self):
        host = self.start_ready({"main.py": SYNC_SAMPLE})
        host.call(1, "robot", "sleep", {"seconds": LONG})
        host.call(2, "robot", "sleep", {"seconds": LONG})
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")
        self.assertEqual(host.ok(4, "robot", "add", {"a": 1, "b": 2}), 3)

    def test_a_burst_of_short_calls_shares_few_threads(self):
        host = self.start_ready({"main.py": SYNC_SAMPLE})
        burst = b"".join(
            encode({"t": "call", "id": i, "object": "robot", "method": "fast", "args": {}})
            for i in range(2000)
        )
        host.conn.sendall(burst)
        for i in range(2000):
            self.assertEqual(host.result(i)["result"], "fast")
        # The reader and the deadline thread, and fewer call threads than the eight allowed:
        # eight short calls' threads would spend their time handing the GIL to each other.
        self.assertLess(host.status(9999)["threads"], 2 + 8)


class CancelTest(HostTestCase):
    def test_cancel_of_async_call_answers_at_once_and_cancels_the_task(self):
        host = self.start_ready()
        host.call(1, "robot", "async_sleep", {"seconds": LONG})
        self.assertEqual(host.ok(2, "robot", "fast"), "fast")
        host.send({"t": "cancel", "id": 1})
        error = host.result(1)["error"]
        self.assertEqual(error["code"], "CANCELLED")
        self.assertIn("robot.async_sleep", error["message"])
        self.assertTrue(host.ok(3, "robot", "async_was_cancelled"))

    def test_cancel_of_sync_call_answers_at_once_and_interrupts_the_thread(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep_in_steps", {"seconds": LONG})
        self.assertEqual(host.ok(2, "robot", "fast"), "fast")
        host.send({"t": "cancel", "id": 1})
        self.assertEqual(host.result(1)["error"]["code"], "CANCELLED")
        self.assertEqual(host.ok(3, "robot", "was_interrupted"), "_CallInterrupted")

    def test_cancel_of_blocking_sync_call_answers_at_once(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep", {"seconds": LONG})
        self.assertEqual(host.ok(2, "robot", "fast"), "fast")
        host.send({"t": "cancel", "id": 1})
        self.assertEqual(host.result(1)["error"]["code"], "CANCELLED")

    def test_cancel_of_queued_call_and_unknown_id(self):
        host = self.start_ready(None, "--threads", "1")
        host.call(1, "robot", "sleep_in_steps", {"seconds": LONG})
        host.call(2, "robot", "fast")
        host.send({"t": "cancel", "id": 2})
        host.send({"t": "cancel", "id": 99})
        self.assertEqual(host.result(2)["error"]["code"], "CANCELLED")
        host.send({"t": "cancel", "id": 1})
        self.assertEqual(host.result(1)["error"]["code"], "CANCELLED")
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")
        self.assertEqual([f for f in host.pending if f["t"] == "result"], [])


class AbandonTest(HostTestCase):
    """Calls answered while their thread still runs project code, and the status request."""

    def test_sync_call_blocked_in_c_is_abandoned_then_settled(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep", {"seconds": 1.5}, timeout=0.2)
        reply = host.expect(lambda f: f.get("id") == 1)
        self.assertEqual(reply["t"], "result")
        self.assertEqual((reply["error"]["code"], reply["error"]["abandoned"]), ("TIMEOUT", True))
        self.assertEqual(host.status(2)["abandoned"], [1])
        self.assertEqual(host.settled(1), {"t": "settled", "id": 1})
        self.assertEqual(host.status(3)["abandoned"], [])

    def test_busy_python_loop_is_interrupted_and_settles(self):
        host = self.start_ready()
        host.call(1, "robot", "spin", {"seconds": LONG}, timeout=0.2)
        error = host.result(1)["error"]
        self.assertEqual((error["code"], error["abandoned"]), ("TIMEOUT", True))
        # The loop would run for LONG seconds; settling within WAIT proves the interrupt.
        host.settled(1)
        status = host.status(2)
        self.assertEqual((status["in_flight"], status["abandoned"]), (0, []))

    def test_cancelled_sync_call_is_abandoned_then_settled(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep_in_steps", {"seconds": LONG})
        self.assertEqual(host.ok(2, "robot", "fast"), "fast")
        host.send({"t": "cancel", "id": 1})
        error = host.result(1)["error"]
        self.assertEqual((error["code"], error["abandoned"]), ("CANCELLED", True))
        host.settled(1)
        self.assertEqual(host.ok(3, "robot", "was_interrupted"), "_CallInterrupted")

    def test_async_call_and_queued_sync_call_are_not_abandoned(self):
        host = self.start_ready(None, "--threads", "1")
        host.call(1, "robot", "async_sleep", {"seconds": LONG}, timeout=0.2)
        error = host.result(1)["error"]
        self.assertEqual((error["code"], error["abandoned"]), ("TIMEOUT", False))
        self.assertTrue(host.ok(2, "robot", "async_was_cancelled"))
        host.call(3, "robot", "sleep_in_steps", {"seconds": LONG})
        host.call(4, "robot", "fast")
        host.send({"t": "cancel", "id": 4})
        error = host.result(4)["error"]
        self.assertEqual((error["code"], error["abandoned"]), ("CANCELLED", False))
        host.send({"t": "cancel", "id": 3})
        host.settled(3)
        self.assertEqual(host.ok(5, "robot", "fast"), "fast")
        self.assertEqual([f for f in host.pending if f["t"] == "settled"], [])

    def test_constructor_blocked_in_c_is_abandoned_then_settled(self):
        host = self.start_ready({"main.py": """
            import time

            class Slow:
                def __init__(self):
                    time.sleep(1.5)

                def ping(self):
                    return "pong"
        """})
        host.call(1, "Slow", "ping", timeout=0.2)
        error = host.result(1)["error"]
        self.assertEqual((error["code"], error["abandoned"]), ("TIMEOUT", True))
        self.assertEqual(host.status(2)["abandoned"], [1])
        host.settled(1)
        self.assertEqual(host.ok(3, "Slow", "ping"), "pong")

    def test_status_counts_calls_in_flight_and_threads(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep_in_steps", {"seconds": LONG})
        host.call(2, "robot", "async_sleep", {"seconds": LONG})
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")
        status = host.status(4)
        self.assertEqual((status["in_flight"], status["abandoned"]), (2, []))
        # The event loop's thread and at least the pool thread running call 1.
        self.assertGreaterEqual(status["threads"], 2)
        for call_id in (1, 2):
            host.send({"t": "cancel", "id": call_id})
        self.assertEqual(host.result(2)["error"]["abandoned"], False)
        host.settled(1)
        self.assertEqual(host.status(5)["in_flight"], 0)


class EventAndOutputTest(HostTestCase):
    def test_push_message_from_a_thread_sends_events(self):
        host = self.start_ready()
        self.assertEqual(host.ok(1, "robot", "push_from_thread"), "pushed")
        self.assertEqual(host.event("tick")["data"], {"n": 1})
        self.assertEqual(host.event("odd")["data"], "{1, 2}")

    def test_print_does_not_corrupt_the_channel(self):
        host = self.start_ready()
        self.assertEqual(host.ok(1, "robot", "noisy"), "quiet")
        self.assertEqual(host.ok(2, "robot", "add", {"a": 1, "b": 1}), 2)
        host.send({"t": "shutdown"})
        self.assertEqual(host.wait(), 0)
        self.assertIn(b"printed line\n", host.stdout)
        self.assertIn(b"to stderr\n", host.stderr)


class ConcurrencyTest(HostTestCase):
    """Frames written from many threads at once, and answers racing their timeouts."""

    SOURCE = """
        import threading
        import time


        def text(seed, size):
            return ("%d-" % seed * size)[:size]


        def flood(call, thread, count):
            for i in range(count):
                data = {"call": call, "thread": thread, "i": i, "pad": text(i, 3000)}
                push_message("flood", data)


        class Flood:
            def big(self, call, size, pushes):
                threads = [
                    threading.Thread(target=flood, args=(call, k, pushes)) for k in range(2)
                ]
                for thread in threads:
                    thread.start()
                result = text(call, size)
                for thread in threads:
                    thread.join()
                return result

            def sleep(self, seconds):
                time.sleep(seconds)
                return seconds
    """
    # With an async method the host reads on its event loop; without, on a plain thread.
    ASYNC_SOURCE = SOURCE + """
            async def async_big(self, call, size):
                push_message("async", {"call": call, "pad": text(call, 5000)})
                return text(call, size)
    """

    def flood(self, source, async_ids):
        host = self.start_ready({"main.py": source}, "--threads", "8")
        size = 1_000_000
        pushes = 20
        sync_ids = range(1, 17)
        for call_id in sync_ids:
            host.call(call_id, "Flood", "big", {"call": call_id, "size": size, "pushes": pushes})
        for call_id in async_ids:
            host.call(call_id, "Flood", "async_big", {"call": call_id, "size": size})
        for call_id in list(sync_ids) + list(async_ids):
            reply = host.result(call_id)
            self.assertTrue(reply["ok"], reply.get("error"))
            self.assertEqual(reply["result"], ("%d-" % call_id * size)[:size])
        floods = {}
        asyncs = []
        for frame in host.pending:
            self.assertEqual(frame["t"], "event", frame)
            data = frame["data"]
            if frame["event"] == "async":
                self.assertEqual(data["pad"], ("%d-" % data["call"] * 5000)[:5000])
                asyncs.append(data["call"])
                continue
            self.assertEqual(data["pad"], ("%d-" % data["i"] * 3000)[:3000])
            floods.setdefault((data["call"], data["thread"]), []).append(data["i"])
        self.assertEqual(sorted(floods), [(c, k) for c in sync_ids for k in range(2)])
        for sequence in floods.values():
            self.assertEqual(sequence, list(range(pushes)))
        self.assertEqual(sorted(asyncs), list(async_ids))

    def test_big_results_and_event_floods_from_many_threads_arrive_whole(self):
        self.flood(self.SOURCE, [])

    def test_big_results_and_event_floods_arrive_whole_beside_async_calls(self):
        self.flood(self.ASYNC_SOURCE, range(17, 25))

    def test_answers_racing_their_timeouts_come_once_and_abandoned_calls_settle(self):
        host = self.start_ready({"main.py": self.SOURCE}, "--threads", "8")
        ids = range(1, 41)
        for call_id in ids:
            timeout = 0.03 + 0.001 * (call_id % 40)
            host.call(call_id, "Flood", "sleep", {"seconds": 0.05}, timeout=timeout)
        abandoned = set()
        for call_id in ids:
            reply = host.result(call_id)
            if reply["ok"]:
                self.assertEqual(reply["result"], 0.05)
            else:
                self.assertEqual(reply["error"]["code"], "TIMEOUT")
                if reply["error"]["abandoned"]:
                    abandoned.add(call_id)
        for call_id in abandoned:
            host.settled(call_id)
        status = host.status(100)
        self.assertEqual((status["in_flight"], status["abandoned"]), (0, []))
        self.assertEqual(host.ok(101, "Flood", "sleep", {"seconds": 0}), 0)
        self.assertEqual(host.pending, [])


class EventLoopTest(HostTestCase):
    def test_sync_project_loads_asyncio_only_for_its_first_coroutine(self):
        host = self.start_ready({"main.py": """
            import sys


            async def answer():
                return 42


            class Probe:
                def loaded(self):
                    return [name for name in ("asyncio", "ctypes") if name in sys.modules]

                def later(self):
                    return answer()
        """})
        self.assertEqual(host.ok(1, "Probe", "loaded"), [])
        self.assertEqual(host.ok(2, "Probe", "later"), 42)
        self.assertEqual(host.ok(3, "Probe", "loaded"), ["asyncio"])

    def test_async_methods_run_on_the_main_thread(self):
        host = self.start_ready({"main.py": """
            import asyncio
            import signal
            import threading


            class Probe:
                async def where(self):
                    loop = asyncio.get_running_loop()
                    # Only a loop on the main thread can take signal handlers.
                    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
                    loop.remove_signal_handler(signal.SIGUSR1)
                    return threading.current_thread() is threading.main_thread()
        """})
        self.assertIs(host.ok(1, "Probe", "where"), True)

    def test_the_loop_the_project_made_current_at_import_runs_its_coroutines(self):
        source = """
            import asyncio

            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            # Bound to the loop above when created on Python 3.8 and 3.9.
            flag = asyncio.Event()


            async def raise_flag():
                flag.set()
                return "raised"


            async def flag_raised_on_loop():
                await flag.wait()
                return asyncio.get_running_loop() is loop


            class Bridge:
                def from_thread(self):
                    return asyncio.run_coroutine_threadsafe(raise_flag(), loop).result(5)

                def check_from_thread(self):
                    return asyncio.run_coroutine_threadsafe(flag_raised_on_loop(), loop).result(5)
        """
        with_async_method = source + """
                async def check(self):
                    return await flag_raised_on_loop()
        """
        for project, check in ((source, "check_from_thread"), (with_async_method, "check")):
            with self.subTest(check=check):
                host = self.start_ready({"main.py": project})
                self.assertEqual(host.ok(1, "Bridge", "from_thread"), "raised")
                self.assertIs(host.ok(2, "Bridge", check), True)


class SafetyStopTest(HostTestCase):
    PROJECT = {"main.py": """
        import time

        log = []

        def stop():
            log.append("module")

        class Motor:
            def spin(self):
                return "spinning"

            def stop(self):
                log.append("motor")

        class Broken:
            def touch(self):
                return "touched"

            def stop(self):
                raise RuntimeError("jammed")

        class Unused:
            def stop(self):
                log.append("unused")

        class Async:
            def touch(self):
                return "touched"

            async def stop(self):
                log.append("async")

        class Busy:
            def sleep(self, seconds):
                time.sleep(seconds)

        class Log:
            def entries(self):
                return log
    """}

    def test_safety_stop_runs_module_and_used_object_hooks(self):
        host = self.start_ready(self.PROJECT)
        host.ok(1, "Motor", "spin")
        host.ok(2, "Broken", "touch")
        host.ok(3, "Async", "touch")
        host.send({"t": "safety_stop", "id": 4})
        result = host.result(4)
        self.assertTrue(result["ok"])
        self.assertEqual(result["result"]["ran"], ["stop", "Motor.stop", "Async.stop"])
        self.assertEqual(result["result"]["errors"], ["Broken.stop: RuntimeError: jammed"])
        self.assertEqual(host.ok(5, "Log", "entries"), ["module", "motor", "async"])

    def test_safety_stop_answers_while_the_pool_is_saturated(self):
        host = self.start_ready(self.PROJECT, "--threads", "1")
        host.ok(1, "Motor", "spin")
        host.call(2, "Busy", "sleep", {"seconds": LONG})
        host.call(3, "Busy", "sleep", {"seconds": LONG})
        host.send({"t": "safety_stop", "id": 4})
        self.assertEqual(host.result(4)["result"]["ran"], ["stop", "Motor.stop"])


class FramingTest(HostTestCase):
    PROJECT = None

    def test_frame_sent_byte_by_byte_is_reassembled(self):
        host = self.start_ready(self.PROJECT)
        for byte in encode({"t": "call", "id": 1, "object": "robot", "method": "fast", "args": {}}):
            host.conn.sendall(bytes([byte]))
            time.sleep(0.001)
        self.assertEqual(host.result(1)["result"], "fast")

    def test_coalesced_frames_are_all_handled(self):
        host = self.start_ready(self.PROJECT)
        data = b"".join(
            encode(
                {"t": "call", "id": i, "object": "robot", "method": "add", "args": {"a": i, "b": 1}}
            )
            for i in range(1, 6)
        )
        host.conn.sendall(data[:7])
        host.conn.sendall(data[7:])
        self.assertEqual([host.result(i)["result"] for i in range(1, 6)], [2, 3, 4, 5, 6])

    def test_a_long_result_comes_as_the_body_a_short_one_in_the_head(self):
        host = self.start_ready(self.PROJECT)
        # JSON of 1,024 bytes (the limit) and of 1,025.
        for call_id, text in ((1, "a" * 1022), (2, "b" * 1023)):
            host.call(call_id, "robot", "echo", {"value": text})
            head, body = host.read_raw_frame()
            while head["t"] != "result":
                head, body = host.read_raw_frame()
            if call_id == 1:
                expected = ({"t": "result", "id": 1, "ok": True, "result": text}, b"")
            else:
                expected = ({"t": "result", "id": 2, "ok": True}, json.dumps(text).encode())
            self.assertEqual((head, body), expected)

    def test_args_may_come_as_the_body(self):
        host = self.start_ready(self.PROJECT)
        text = "x" * 5000
        head = json.dumps({"t": "call", "id": 1, "object": "robot", "method": "echo"}).encode()
        body = json.dumps({"value": text}).encode()
        host.conn.sendall(struct.pack(">II", 4 + len(head) + len(body), len(head)) + head + body)
        self.assertEqual(host.result(1)["result"], text)

    def test_head_length_over_the_frame_exits_3(self):
        host = self.start_ready(self.PROJECT)
        host.conn.sendall(struct.pack(">II", 6, 3) + b"{}")
        self.assertEqual(host.wait(), 3)
        self.assertIn(b"head length 3 exceeds the frame length 6", host.stderr)

    def test_length_over_the_limit_exits_3(self):
        host = self.start_ready(self.PROJECT, "--max-frame", "1024")
        host.conn.sendall(struct.pack(">II", 2048, 2) + b"{}")
        self.assertEqual(host.wait(), 3)
        self.assertIn(b"frame length 2048 exceeds the limit of 1024 bytes", host.stderr)

    def test_frame_that_is_not_json_exits_3(self):
        host = self.start_ready(self.PROJECT)
        host.conn.sendall(struct.pack(">II", 7, 3) + b"{x}")
        self.assertEqual(host.wait(), 3)


class SyncProjectFramingTest(FramingTest):
    """The same, read by the host's blocking reader thread rather than its event loop."""

    PROJECT = {"main.py": SYNC_SAMPLE}


class ShutdownTest(HostTestCase):
    def test_shutdown_cancels_in_flight_calls_and_exits_0(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep", {"seconds": LONG})
        host.call(2, "robot", "async_sleep", {"seconds": LONG})
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")
        host.send({"t": "shutdown"})
        for call_id in (1, 2):
            self.assertEqual(host.result(call_id)["error"]["code"], "CANCELLED")
        with self.assertRaises(EOFError):
            host.read_frame()
        self.assertEqual(host.wait(), 0)

    def test_closing_the_socket_exits_0(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep", {"seconds": LONG})
        host.conn.close()
        self.assertEqual(host.wait(), 0)

    def test_sync_project_shutdown_cancels_in_flight_calls_and_exits_0(self):
        host = self.start_ready({"main.py": SYNC_SAMPLE})
        host.call(1, "robot", "sleep", {"seconds": LONG})
        self.assertEqual(host.ok(2, "robot", "fast"), "fast")
        host.send({"t": "shutdown"})
        self.assertEqual(host.result(1)["error"]["code"], "CANCELLED")
        with self.assertRaises(EOFError):
            host.read_frame()
        self.assertEqual(host.wait(), 0)

    def test_sync_project_closing_the_socket_exits_0(self):
        host = self.start_ready({"main.py": SYNC_SAMPLE})
        host.call(1, "robot", "sleep", {"seconds": LONG})
        host.conn.close()
        self.assertEqual(host.wait(), 0)


class DefaultProjectHostTest(HostTestCase):
    def test_default_project_walks_and_stops_through_the_host(self):
        host = self.start(project=DEFAULT_PROJECT)
        self.assertEqual(host.event("robot_ready")["data"]["mode"], "lying")
        ready = host.ready()
        self.assertEqual(list(ready["objects"]), ["sport_client"])
        for method in ("Move", "StandUp", "StopMove", "GetState", "Dance1", "SetTimeout"):
            self.assertIn(method, ready["objects"]["sport_client"])

        error = host.error(1, "sport_client", "Move", {"vx": 0.5, "vy": 0, "vyaw": 0})
        self.assertEqual((error["code"], error["type"]), ("EXCEPTION", "RuntimeError"))
        self.assertEqual(
            error["message"],
            "Cannot move: robot is lying down; call StandUp or RecoveryStand first",
        )
        self.assertEqual(host.ok(2, "sport_client", "StandUp")["mode"], "standing")
        state = host.ok(3, "sport_client", "Move", {"vx": 1.0, "vy": 0.0, "vyaw": 0.0})
        self.assertEqual(state["mode"], "locomotion")
        time.sleep(0.05)
        first = host.ok(4, "sport_client", "GetState")
        time.sleep(0.05)
        second = host.ok(5, "sport_client", "GetState")
        self.assertEqual(second["velocity"], {"vx": 1.0, "vy": 0.0, "vyaw": 0.0})
        self.assertGreater(first["position"]["x"], 0)
        self.assertGreater(second["position"]["x"], first["position"]["x"])

        error = host.error(6, "sport_client", "Move", {"vx": 9.0, "vy": 0, "vyaw": 0})
        self.assertEqual((error["code"], error["type"]), ("EXCEPTION", "ValueError"))
        self.assertEqual(error["message"], "Invalid vx: 9.0 is outside [-2.5, 3.8] m/s")

        host.send({"t": "safety_stop", "id": 7})
        self.assertEqual(host.result(7)["result"], {"ran": ["stop"], "errors": []})
        state = host.ok(8, "sport_client", "GetState")
        self.assertEqual(state["velocity"], {"vx": 0.0, "vy": 0.0, "vyaw": 0.0})
        self.assertEqual(state["mode"], "balance_stand")


def load_default_project():
    spec = importlib.util.spec_from_file_location(
        "default_project_main", os.path.join(DEFAULT_PROJECT, "main.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class DefaultProjectTest(unittest.TestCase):
    def setUp(self):
        self.module = load_default_project()
        self.clock = FakeClock()
        self.client = self.module._SportClient(clock=self.clock)

    def test_starts_lying_and_refuses_to_move(self):
        self.assertEqual(self.client.GetState()["mode"], "lying")
        with self.assertRaisesRegex(RuntimeError, "^Cannot move: robot is lying down"):
            self.client.Move(0.5, 0, 0)

    def test_move_integrates_position_over_time(self):
        self.client.StandUp()
        self.client.Move(1.0, 0.0, 0.0)
        self.clock.now += 2.0
        self.assertAlmostEqual(self.client.GetState()["position"]["x"], 2.0)
        self.client.Move(0.0, 0.0, math.pi / 2)
        self.clock.now += 1.0
        self.client.Move(1.0, 0.0, 0.0)
        self.clock.now += 1.0
        position = self.client.StopMove()["position"]
        self.assertAlmostEqual(position["x"], 2.0, places=5)
        self.assertAlmostEqual(position["y"], 1.0, places=5)
        self.assertAlmostEqual(position["yaw"], math.pi / 2, places=5)
        self.clock.now += 5.0
        self.assertAlmostEqual(self.client.GetState()["position"]["y"], 1.0, places=5)

    def test_turning_while_walking_follows_a_circle(self):
        self.client.RecoveryStand()
        self.client.Move(1.0, 0.0, 1.0)
        self.clock.now += math.pi
        position = self.client.GetState()["position"]
        self.assertAlmostEqual(position["x"], 0.0, places=5)
        self.assertAlmostEqual(position["y"], 2.0, places=5)

    def test_limits_are_enforced(self):
        self.client.StandUp()
        with self.assertRaisesRegex(ValueError, r"^Invalid vy: 1.5 is outside \[-1.0, 1.0\] m/s"):
            self.client.Move(0, 1.5, 0)
        with self.assertRaisesRegex(ValueError, "^Invalid vx: expected a finite number"):
            self.client.Move(float("nan"), 0, 0)
        with self.assertRaisesRegex(ValueError, "^Invalid roll"):
            self.client.Euler(1.0, 0, 0)
        with self.assertRaisesRegex(ValueError, "^Invalid level"):
            self.client.SpeedLevel(3)
        with self.assertRaisesRegex(ValueError, "^Invalid on"):
            self.client.SwitchJoystick("yes")

    def test_mode_transitions(self):
        client = self.client
        self.assertEqual(client.StandUp()["mode"], "standing")
        self.assertEqual(client.Move(0.5, 0, 0)["mode"], "locomotion")
        self.assertEqual(client.StopMove()["mode"], "balance_stand")
        self.assertEqual(client.Sit()["mode"], "sitting")
        with self.assertRaisesRegex(RuntimeError, "call RiseSit first"):
            client.Hello()
        self.assertEqual(client.RiseSit()["mode"], "balance_stand")
        self.assertEqual(client.Dance1()["mode"], "dance1")
        self.assertEqual(client.Pose(True)["mode"], "pose")
        self.assertEqual(client.Pose(False)["mode"], "balance_stand")
        self.assertEqual(client.Damp()["mode"], "damp")
        with self.assertRaisesRegex(RuntimeError, "damping mode"):
            client.BalanceStand()
        self.assertEqual(client.StandDown()["mode"], "lying")

    def test_state_fields_and_command_count(self):
        client = self.client
        client.Init()
        client.SetTimeout(5.0)
        client.SpeedLevel(1)
        state = client.GetState()
        self.assertEqual(state["command_count"], 3)
        self.assertEqual((state["speed_level"], state["timeout"]), (1, 5.0))
        self.assertEqual(client.GetState(["mode", "joystick"]), {"mode": "lying", "joystick": True})
        self.assertEqual(client.GetState()["command_count"], 3)

    def test_module_stop_halts_motion(self):
        client = self.module.sport_client
        client.StandUp()
        client.Move(0.5, 0.2, 0.1)
        self.module.stop()
        self.assertEqual(client.GetState()["velocity"], {"vx": 0.0, "vy": 0.0, "vyaw": 0.0})


if __name__ == "__main__":
    unittest.main()
