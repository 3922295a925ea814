"""What the launcher's tests share: a launch as the agent does one, and what came of it.

Each test runs the real launcher, ``python3 -m robot_agent_sandbox --spec JSON`` from the
folder holding the package, with a control pipe as its stdin and a Unix socket it reports
to, over a temporary folder that plays the agent's storage; the project is a small
/usr/bin/python3 script (a pyenv python3 under root's home is not the project user's to
run). Every wait is bounded by WAIT seconds. Runs on Python 3.8 with the stdlib only.
"""

import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

EXECUTORS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANDBOX_USER = "robot-agent-sandbox"
PROJECT_PYTHON = "/usr/bin/python3"
WAIT = 15.0


def has_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


IS_ROOT = os.geteuid() == 0
CAN_SWITCH = IS_ROOT and has_user(SANDBOX_USER) and os.path.exists(PROJECT_PYTHON)
needs_root = unittest.skipUnless(
    CAN_SWITCH, f"needs root, the user {SANDBOX_USER} and {PROJECT_PYTHON}"
)


def is_alive(pid):
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            data = file.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2 :].split()[0] != b"Z"


# Every test project starts with this: ``report(value)`` writes result.json in its data folder,
# atomically (a test polls for the file and reads it the moment it appears).
PRELUDE = """\
import json as _json, os as _os
def report(value):
    _path = _os.path.join(_os.environ["ROBOT_AGENT_DATA"], "result.json")
    with open(_path + ".tmp", "w") as _file:
        _json.dump(value, _file)
    _os.replace(_path + ".tmp", _path)  # whole or absent: the test may be polling for it
"""


class Launch:
    """One run of the launcher: the frames it sent, its exit, its stderr."""

    def __init__(self, frames, returncode, stderr, storage):
        self.frames = frames
        self.returncode = returncode
        self.stderr = stderr
        self.storage = storage

    @property
    def report(self):
        confined = [f for f in self.frames if f.get("t") == "confined"]
        return confined[0]["confinement"] if confined else None

    @property
    def error(self):
        errors = [f["error"] for f in self.frames if f.get("t") == "launch_error"]
        return errors[0] if errors else None


class Storage:
    """A temporary folder laid out like the agent's storage (0700, as mkdtemp makes it)."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="sandbox-test-")
        self.version = os.path.join(self.path, "projects", "v000001", "files")
        os.makedirs(self.version)
        for folder in ("projects", "projects/v000001"):
            os.chmod(os.path.join(self.path, folder), 0o700)
        os.chmod(self.version, 0o755)
        self.logs = os.path.join(self.path, "logs")
        os.makedirs(self.logs)
        with open(os.path.join(self.logs, "agent.log"), "w") as file:
            file.write("the agent's secret\n")
        self.data = os.path.join(self.path, "data", "test")
        self.tmp = os.path.join(self.path, "tmp", "test")
        self.socket = os.path.join(self.path, "run.sock")

    def result(self):
        """What the project wrote to ``result.json`` in its data folder."""
        with open(os.path.join(self.data, "result.json")) as file:
            return json.load(file)

    def write_project(self, source):
        path = os.path.join(self.version, "main.py")
        with open(path, "w") as file:
            file.write(textwrap.dedent(source))
        os.chmod(path, 0o644)
        return path

    def spec(self, source, **fields):
        """A spec running ``source`` with /usr/bin/python3 in the version folder; the
        source may call ``report(value)`` to leave ``value`` for :meth:`result`."""
        main = self.write_project(PRELUDE + textwrap.dedent(source))
        spec = {
            "argv": [PROJECT_PYTHON, main],
            "cwd": self.version,
            "socket": self.socket,
            "user": SANDBOX_USER,
            "exec": [self.version],
            "storage": self.path,
            "data": self.data,
            "tmp": self.tmp,
            "env": {"ROBOT_AGENT_DATA": self.data, "TMPDIR": self.tmp},
            "cgroup": "off",
            "program_prefix": True,
        }
        spec.update(fields)
        return spec

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


def launch(spec, control=None, wait=WAIT, prefix=(), interpreter=sys.executable):
    """Runs the launcher on ``spec`` until it exits; ``control`` (bytes, or a function
    given the process) is written to its stdin once it has confined the project, which is
    then closed. ``prefix`` runs it under another program (setpriv)."""
    path = spec.get("socket")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o777)
    listener.listen(1)
    listener.settimeout(wait)
    process = subprocess.Popen(
        [*prefix, interpreter, "-m", "robot_agent_sandbox", "--spec", json.dumps(spec)],
        cwd=EXECUTORS,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    frames = []
    try:
        conn, _ = listener.accept()
        conn.settimeout(wait)
        with conn:
            frames, rest = _read_until_confined(conn)
            if callable(control):
                control(process)
            elif control is not None:
                process.stdin.write(control)
                process.stdin.flush()
            frames += _read_all(conn, rest)
        # The control pipe stays open until the launcher exits: closing it stops the project.
        process.wait(timeout=wait)
        stderr = process.stderr.read().decode(errors="replace")
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        listener.close()
        os.unlink(path)
        for stream in (process.stdin, process.stderr):
            if not stream.closed:
                stream.close()
    return Launch(frames, process.returncode, stderr, spec.get("storage"))


def _frame_from(buffer):
    if len(buffer) < 8:
        return None, buffer
    length, head = struct.unpack(">II", buffer[:8])
    if len(buffer) < 4 + length:
        return None, buffer
    return json.loads(buffer[8 : 8 + head]), buffer[4 + length :]


def _read_until_confined(conn):
    frames = []
    buffer = b""
    while True:
        frame, buffer = _frame_from(buffer)
        if frame is not None:
            frames.append(frame)
            if frame.get("t") in ("confined", "launch_error"):
                return frames, buffer
            continue
        data = conn.recv(65536)
        if not data:
            return frames, buffer
        buffer += data


def _read_all(conn, buffer):
    """Frames until the connection closes (the exec closed it, or the host did)."""
    frames = []
    while True:
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if data:
            buffer += data
            continue
        while True:
            frame, buffer = _frame_from(buffer)
            if frame is None:
                return frames
            frames.append(frame)


def result_is(storage, value):
    """Whether the project has reported ``value`` (a test waits on it)."""
    try:
        return storage.result() == value
    except (OSError, ValueError):
        return False


def wait_for(predicate, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def stop_now(process):
    """Closes the control pipe: the launcher stops the project."""
    process.stdin.close()


def kill_pid(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
