"""``run: false``: a seccomp filter under which the project can start no process.

Threads stay possible (``clone`` with CLONE_THREAD); ``fork``, ``vfork``, a ``clone``
without CLONE_THREAD (which is how fork, posix_spawn and subprocess start processes) fail
with EPERM, and ``clone3`` with ENOSYS, which makes the C library fall back to ``clone``
(the filter cannot read clone3's flags, which it gets in memory). Calls from another
architecture's table (x86_64's 32-bit and x32 ABIs) all fail. Exec stays allowed: it
replaces the process, it starts none. Seccomp exists on every kernel the robot runs.
"""

import ctypes
import errno
import os

from . import libc

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# (clone, clone3, and the calls that only start processes) by machine.
_CALLS = {
    "x86_64": {"clone": 56, "clone3": 435, "process_only": (57, 58)},
    "aarch64": {"clone": 220, "clone3": 435, "process_only": ()},
}
_X32_BIT = 0x40000000
_CLONE_THREAD = 0x00010000

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
# struct seccomp_data: nr, arch, instruction pointer, args[6] (little-endian on both).
_NR = 0
_ARCH = 4
_ARG0_LOW = 16


class _Filter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]


def supported():
    return os.uname().machine in _AUDIT_ARCH


def program(machine):
    """The filter as (code, jump-if-true label, jump-if-false label, k); labels are names
    of the return statements at the end, or None for the next statement."""
    calls = _CALLS[machine]
    ops = [
        (_LD_W_ABS, None, None, _ARCH),
        (_JEQ_K, None, "deny", _AUDIT_ARCH[machine]),
        (_LD_W_ABS, None, None, _NR),
    ]
    if machine == "x86_64":
        ops.append((_JGE_K, "deny", None, _X32_BIT))
    ops.append((_JEQ_K, "nosys", None, calls["clone3"]))
    for number in calls["process_only"]:
        ops.append((_JEQ_K, "deny", None, number))
    ops += [
        (_JEQ_K, None, "allow", calls["clone"]),
        (_LD_W_ABS, None, None, _ARG0_LOW),
        (_JSET_K, "allow", "deny", _CLONE_THREAD),
    ]
    returns = {
        "allow": _RET_ALLOW,
        "deny": _RET_ERRNO | errno.EPERM,
        "nosys": _RET_ERRNO | errno.ENOSYS,
    }
    return ops, returns


def _assemble(ops, returns):
    labels = {name: len(ops) + index for index, name in enumerate(returns)}
    out = []
    for at, (code, true, false, k) in enumerate(ops):
        jt = 0 if true is None else labels[true] - at - 1
        jf = 0 if false is None else labels[false] - at - 1
        out.append(_Filter(code, jt, jf, k))
    out += [_Filter(_RET_K, 0, 0, value) for value in returns.values()]
    return out


def forbid_new_processes():
    """Installs the filter on this process and all it starts; needs no_new_privs."""
    ops, returns = program(os.uname().machine)
    statements = _assemble(ops, returns)
    array = (_Filter * len(statements))(*statements)
    prog = _Program(len(statements), ctypes.cast(array, ctypes.POINTER(_Filter)))
    libc.prctl(
        libc.PR_SET_SECCOMP,
        libc.SECCOMP_MODE_FILTER,
        ctypes.addressof(prog),
        what="prctl(PR_SET_SECCOMP)",
    )
