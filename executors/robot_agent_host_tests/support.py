"""What the host's tests share: projects, and a Host that plays the agent's side.

Each test starts the real host as a subprocess, ``python3 -m robot_agent_host`` from the
folder holding the package, as the agent does, against a small project written to a
temporary folder; it plays the agent's side of the protocol and checks the frames that
come back. Every wait is bounded by WAIT seconds. Runs on Python 3.8 with the stdlib only.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import unittest

# The folder holding the package: the working directory the agent starts the host in.
EXECUTORS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "robot_agent_host"
DEFAULT_PROJECT = os.path.join(EXECUTORS, "default_project")
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

    def __init__(self, project, *options, cwd=EXECUTORS, env=None):
        self.folder = tempfile.mkdtemp(prefix="host-")
        path = os.path.join(self.folder, "agent.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.settimeout(WAIT)
        listener.bind(path)
        listener.listen(1)
        self.process = subprocess.Popen(
            [sys.executable, "-m", PACKAGE, "--socket", path, "--project", project]
            + list(options),
            cwd=cwd,
            env=env,
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
    def start(self, files=None, *options, project=None, **launch):
        """A host for files (SAMPLE by default) or an existing project folder; launch is
        Host's cwd and env."""
        if project is None:
            project = write_project(files if files is not None else {"main.py": SAMPLE})
            self.addCleanup(shutil.rmtree, project, True)
        host = Host(project, *options, **launch)
        self.addCleanup(host.close)
        return host

    def start_ready(self, files=None, *options, project=None, **launch):
        host = self.start(files, *options, project=project, **launch)
        frame = host.ready()
        self.assertEqual(frame["t"], "ready", frame)
        return host
