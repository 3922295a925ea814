"""cgroup v2: the whole project held to ``memory.max`` and ``pids.max``, killed at once.

A project gets a cgroup of its own, ``project-<launcher pid>``, inside the agent's
delegated cgroup (systemd's ``Delegate=yes`` hands the service's cgroup to it) or the
folder ``sandbox.cgroup`` names. cgroup v2 lets a cgroup hand controllers to its children
only while it holds no process itself, so when the agent's processes sit in it they are
moved into a child ``agent`` first. Stopping writes ``cgroup.kill`` (Linux 5.14), which
kills every process in it however it was started.
"""

import os
import time

from .limits import MIB

_WANTED = ("memory", "pids")


def _read(path):
    with open(path) as file:
        return file.read()


def _write(path, text):
    with open(path, "w") as file:
        file.write(text)


def _own_cgroup():
    for line in _read("/proc/self/cgroup").splitlines():
        if line.startswith("0::"):
            return line[3:].strip()
    return None


def _cgroup2_mount():
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            return left.split(" ")[4]
    return None


def _base(setting):
    """The delegated cgroup folder, or (None, why not)."""
    if setting != "auto":
        return (setting, None) if os.path.isdir(setting) else (None, f"{setting} does not exist")
    mount, own = _cgroup2_mount(), _own_cgroup()
    if mount is None or own is None:
        return None, "no cgroup v2"
    if own == "/":
        return None, "the agent is in the root cgroup v2: run it with systemd's Delegate=yes"
    base = mount + own
    if not os.access(os.path.join(base, "cgroup.procs"), os.W_OK):
        return None, f"{base} is not delegated to the agent: run it with systemd's Delegate=yes"
    return base, None


def _enable_controllers(base):
    available = _read(os.path.join(base, "cgroup.controllers")).split()
    enabled = set(_read(os.path.join(base, "cgroup.subtree_control")).split())
    wanted = [name for name in _WANTED if name in available and name not in enabled]
    if not wanted:
        return enabled
    procs = _read(os.path.join(base, "cgroup.procs")).split()
    if procs:
        agent = os.path.join(base, "agent")
        os.makedirs(agent, exist_ok=True)
        for pid in procs:
            try:
                _write(os.path.join(agent, "cgroup.procs"), pid)
            except ProcessLookupError:
                pass
    try:
        _write(os.path.join(base, "cgroup.subtree_control"), " ".join("+" + w for w in wanted))
    except OSError:
        pass
    return set(_read(os.path.join(base, "cgroup.subtree_control")).split())


class ProjectCgroup:
    """The project's cgroup: created by the launcher, joined by its child, killed and
    removed when the project ends."""

    def __init__(self, path, limits_processes):
        self.path = path
        # Whether pids.max holds the project to its ``processes``.
        self.limits_processes = limits_processes

    @classmethod
    def create(cls, setting, limits, pretend_missing):
        """The cgroup, or None; and what is missing. ``setting`` is auto, off or a path."""
        if setting == "off":
            return None, ["cgroup (sandbox.cgroup: off)"]
        if "cgroup" in pretend_missing:
            return None, ["cgroup (sandbox.pretend_missing)"]
        base, why = _base(setting)
        if base is None:
            return None, [f"cgroup ({why})"]
        try:
            enabled = _enable_controllers(base)
            path = os.path.join(base, f"project-{os.getpid()}")
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            return None, [f"cgroup ({base}: {exc.strerror})"]
        missing = []
        if not os.path.exists(os.path.join(path, "cgroup.kill")):
            missing.append("cgroup.kill (Linux before 5.14: the launcher walks the tree instead)")
        limited = set()
        for name, key, control, unit in (
            ("memory", "memory_mb", "memory.max", MIB),
            ("pids", "processes", "pids.max", 1),
        ):
            value = limits.get(key)
            if value is None:
                continue
            if name not in enabled:
                missing.append(f"cgroup {control} (no {name} controller in {base})")
                continue
            _write(os.path.join(path, control), str(value * unit))
            limited.add(name)
        return cls(path, "pids" in limited), missing

    def join(self):
        """Moves the calling process into the cgroup."""
        _write(os.path.join(self.path, "cgroup.procs"), "0")

    def kill(self):
        """Kills every process in it; False when the kernel has no cgroup.kill."""
        control = os.path.join(self.path, "cgroup.kill")
        if not os.path.exists(control):
            return False
        _write(control, "1")
        return True

    def oom_kills(self):
        try:
            for line in _read(os.path.join(self.path, "memory.events")).splitlines():
                name, _, count = line.partition(" ")
                if name == "oom_kill":
                    return int(count)
        except OSError:
            pass
        return 0

    def remove(self, timeout=2.0):
        """Removes it once empty; a cgroup that will not empty is left, and said so."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.rmdir(self.path)
                return True
            except FileNotFoundError:
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.01)
