"""Capabilities: which the launcher has, and dropping every one before the project runs.

The agent's service keeps a few (CAP_SETUID, CAP_SETGID, CAP_KILL, CAP_SYS_ADMIN) as
ambient capabilities rather than running as root. Ambient capabilities survive both a
switch between two non-root users and exec, so without this the project would start with
them and could, for one, switch to any user it likes.
"""

import ctypes

from . import libc

CAP_SETGID = 6
CAP_SETUID = 7
CAP_SYS_ADMIN = 21

_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def effective():
    """The effective capability set of this process, as a number."""
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def has(*capabilities):
    mask = effective()
    return all(mask >> capability & 1 for capability in capabilities)


def drop_all():
    """Clears the ambient, effective, permitted and inheritable sets (always allowed)."""
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, what="prctl(PR_CAP_AMBIENT)")
    header = _Header(_VERSION_3, 0)
    data = (_Data * 2)()
    libc.call("capset", ctypes.byref(header), data)
