"""The launcher's own process: it starts the confined child and owns the whole tree.

It is a child subreaper, so a descendant whose parent exits (a double-forked daemon)
becomes its child rather than init's. It learns of the main process's exit from
``waitpid``, never from pipes closing: a grandchild that keeps the project's stdout open
delays nothing. Then it kills whatever is left, reaps it, and hands the status back.
"""

import os
import select
import signal
import stat
import time

from . import frames, libc
from .confine import confine
from .errors import LaunchError

# The child's exit code when it could not become the project (after a launch_error frame).
EXIT_LAUNCH_FAILED = 127
# How long killing the rest of the tree may take before the launcher gives up on it.
TEARDOWN_S = 5.0


def log(message):
    os.write(2, f"robot_agent_sandbox: {message}\n".encode())


def descendants(root):
    """Every live process below ``root`` (threads aside), from /proc."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as file:
                data = file.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold anything, spaces included.
        fields = data[data.rindex(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(name))
    found = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found


def _exec_failure(spec, program, exc):
    message = f"cannot run {program}: {exc.strerror or exc}"
    if spec.exec_hint:
        message += f" ({spec.exec_hint})"
    return message


def _exec_fallback(spec, program, env):
    """Execs the first of the spec's fallback interpreters this user may run; returns only
    when none can be run."""
    for fallback in spec.exec_fallbacks:
        if fallback == program or not os.access(fallback, os.X_OK):
            continue
        log(f"cannot run {program} as the project's user; running {fallback} instead")
        try:
            os.execve(fallback, [fallback] + spec.argv[1:], env)
        except OSError:
            continue


def _become_project(spec, sock, identity, cgroup, missing):
    """Runs in the child: confines it and execs the project; never returns."""
    program = spec.argv[0]
    try:
        report, program, env = confine(spec, identity, cgroup, missing)
        if sock is not None:
            frames.send(sock, {"t": "confined", "pid": os.getpid(), "confinement": report})
            if spec.pass_socket:
                if sock.fileno() == 3:
                    os.set_inheritable(3, True)
                else:
                    os.dup2(sock.fileno(), 3)
        try:
            os.execve(program, spec.argv, env)
        except PermissionError as exc:
            _exec_fallback(spec, program, env)
            raise LaunchError(_exec_failure(spec, program, exc)) from None
        except OSError as exc:
            raise LaunchError(_exec_failure(spec, program, exc)) from None
    except LaunchError as exc:
        message = str(exc)
    except OSError as exc:
        message = f"cannot confine the project: {exc}"
    except BaseException as exc:  # noqa: B036 - the child must never return into the parent's code
        message = f"cannot confine the project: {type(exc).__name__}: {exc}"
    log(message)
    if sock is not None:
        try:
            frames.send(sock, {"t": "launch_error", "error": message})
        except OSError:
            pass
    os._exit(EXIT_LAUNCH_FAILED)


class Supervisor:
    """Starts the project's main process, follows the agent's control pipe (stdin), and
    ends the whole tree when the main process ends."""

    def __init__(self, spec, cgroup):
        self._spec = spec
        self._cgroup = cgroup
        self._main = None
        self._kill_at = None
        self._stopping = False
        self._stop_requested = False
        self._control = b""
        info = os.fstat(0)
        # The agent's pipe; a terminal or /dev/null (a person running it) is no control.
        self._control_open = stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode)
        self._wake = None

    def spawn(self, sock, identity, missing):
        """Forks the child that becomes the project; returns its pid."""
        libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1, what="prctl(PR_SET_CHILD_SUBREAPER)")
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_term)
        # A Ctrl-C in the agent's terminal reaches its whole process group; the agent
        # decides when the project stops.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            os.close(wake_read)
            os.close(wake_write)
            _become_project(self._spec, sock, identity, self._cgroup, missing)
        self._main = pid
        self._wake = wake_read
        return pid

    def wait(self):
        """Serves the control pipe until the main process exits, then ends the rest of the
        tree; returns the main process's wait status."""
        while True:
            status = self._reap()
            if status is not None:
                break
            timeout = None
            if self._kill_at is not None:
                timeout = max(0.0, self._kill_at - time.monotonic())
            watched = [self._wake] + ([0] if self._control_open else [])
            ready, _, _ = select.select(watched, [], [], timeout)
            if self._wake in ready:
                self._drain_wake()
            if self._stop_requested:
                self._stop_requested = False
                self._stop()
            if 0 in ready:
                self._read_control()
            if self._kill_at is not None and time.monotonic() >= self._kill_at:
                self._kill_at = None
                self._send(signal.SIGKILL)
        self._teardown(status)
        return status

    def _on_term(self, *_):
        self._stop_requested = True

    def _drain_wake(self):
        try:
            while os.read(self._wake, 512):
                pass
        except BlockingIOError:
            pass

    def _send(self, signum):
        try:
            os.kill(self._main, signum)
        except ProcessLookupError:
            pass

    def _stop(self):
        if self._stopping:
            return
        self._stopping = True
        self._send(self._spec.stop_signum)
        self._kill_at = time.monotonic() + self._spec.stop_grace_s

    def _read_control(self):
        data = os.read(0, 4096)
        if not data:
            # The agent is gone (or closed the pipe): the project goes too.
            self._control_open = False
            self._stop()
            return
        self._control += data
        *lines, self._control = self._control.split(b"\n")
        for line in lines:
            self._command(line.decode("ascii", "replace").split())

    def _command(self, words):
        if words == ["kill"]:
            self._send(signal.SIGKILL)
        elif words == ["stop"]:
            self._stop()
        elif len(words) == 2 and words[0] == "signal" and words[1] in signal.Signals.__members__:
            self._send(signal.Signals[words[1]])
        elif words:
            log(f"ignoring an unknown control line: {' '.join(words)}")

    def _reap(self):
        """Reaps every child that has exited; the main process's status once it has."""
        status = None
        while True:
            try:
                pid, code = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return status
            if pid == 0:
                return status
            if pid == self._main:
                status = code

    def _teardown(self, status):
        cgroup = self._cgroup
        if cgroup is not None:
            try:
                cgroup.kill()
            except OSError as exc:
                log(f"cannot kill the project's cgroup: {exc}")
        deadline = time.monotonic() + TEARDOWN_S
        while True:
            left = descendants(os.getpid())
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._reap()
            if not left:
                break
            if time.monotonic() > deadline:
                log(f"processes survived the project's end: {left}")
                break
            time.sleep(0.002)
        if cgroup is not None:
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                if cgroup.oom_kills():
                    log("the kernel killed the project: it went over its memory limit")
            if not cgroup.remove():
                log(f"cannot remove the project's cgroup {cgroup.path}")
