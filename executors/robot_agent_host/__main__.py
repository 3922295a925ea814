"""``python3 -m robot_agent_host``: parses the arguments, connects and runs the host."""

import argparse
import os
import signal
import socket
import sys

from .codes import EXIT_USAGE
from .host import Host
from .report import log


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="robot_agent_host", description="Serve calls into a deployed Python project."
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", help="Unix socket the agent listens on")
    where.add_argument(
        "--socket-fd", type=int, help="a connection to the agent, inherited (from the launcher)"
    )
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
    if options.socket_fd is not None:
        try:
            sock = socket.socket(fileno=options.socket_fd)
        except OSError as exc:
            log(f"Cannot use the agent's connection: fd {options.socket_fd}: {exc}")
            return EXIT_USAGE
        return Host(sock, options).run()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(options.socket)
    except OSError as exc:
        sock.close()
        log(f"Cannot connect to the agent: {options.socket}: {exc}")
        return EXIT_USAGE
    return Host(sock, options).run()


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
