"""``python3 -m robot_agent_sandbox --spec JSON``: connects, starts the confined project,
and exits as it does (with its exit code, or of its signal)."""

import os
import resource
import signal
import socket
import sys

from . import frames
from .cgroup import ProjectCgroup
from .errors import LaunchError
from .identity import resolve
from .spec import parse
from .supervisor import EXIT_LAUNCH_FAILED, Supervisor, log

# Bad arguments or a spec the launcher cannot read: nothing was started.
EXIT_USAGE = 2


def _connect(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise LaunchError(f"cannot connect to the agent at {path}: {exc.strerror}") from None
    return sock


def _exit_like(status):
    """Exits as the project did: with its code, or killed by its signal."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # SIGKILL and SIGSTOP keep their default action anyway.
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _launch(spec):
    sock = None
    try:
        sock = _connect(spec.socket) if spec.socket else None
        identity, missing = resolve(spec.user, spec.allow_root, spec.pretend_missing)
        cgroup, cgroup_missing = ProjectCgroup.create(
            spec.cgroup, spec.limits, spec.pretend_missing
        )
        supervisor = Supervisor(spec, cgroup)
        supervisor.spawn(sock, identity, missing + cgroup_missing)
    except (LaunchError, OSError) as exc:
        message = str(exc) if isinstance(exc, LaunchError) else f"cannot start: {exc}"
        log(message)
        if sock is not None:
            frames.send(sock, {"t": "launch_error", "error": message})
        os._exit(EXIT_LAUNCH_FAILED)
    if sock is not None:
        # The child holds it now; the agent sees it close when the child has.
        sock.close()
    return supervisor.wait()


USAGE = "usage: python3 -m robot_agent_sandbox --spec JSON"


def main(argv=None):
    # Not argparse: it costs 5 ms at every project start, for one option.
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "--spec":
        log(USAGE)
        os._exit(EXIT_USAGE)
    try:
        spec = parse(args[1])
    except LaunchError as exc:
        log(str(exc))
        os._exit(EXIT_USAGE)
    _exit_like(_launch(spec))


if __name__ == "__main__":
    main()
