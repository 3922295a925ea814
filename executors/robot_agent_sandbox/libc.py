"""The system calls the launcher needs that the os module lacks, through ctypes.

Landlock's calls have the same numbers on x86_64 and aarch64 (444, 445, 446), like every
call added since the tables were unified.
"""

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
_libc.unshare.restype = ctypes.c_int
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.restype = ctypes.c_int
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]

SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446

PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18


def _check(result, what):
    if result == -1:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")
    return result


def syscall(number, *args, what="syscall"):
    """Calls system call ``number``; arguments must already be ctypes values."""
    return _check(_libc.syscall(ctypes.c_long(number), *args), what)


def prctl(option, arg2=0, arg3=0, what="prctl"):
    """prctl(2); a pointer goes as an integer (its address), which is what the C ABI passes."""
    return _check(_libc.prctl(option, arg2, arg3, 0, 0), what)


def call(name, *args):
    """Calls the C library's ``name`` (an int-returning wrapper that sets errno)."""
    return _check(getattr(_libc, name)(*args), name)


def call_quiet(name, *args):
    """Calls ``name`` for its return value alone (setfsuid reports no errors)."""
    return getattr(_libc, name)(*args)


def unshare(flags, what="unshare"):
    return _check(_libc.unshare(flags), what)


def _bytes(text):
    return None if text is None else os.fsencode(text)


def mount(source, target, fstype, flags, data=None):
    return _check(
        _libc.mount(_bytes(source), _bytes(target), _bytes(fstype), flags, _bytes(data)),
        f"mount {target}",
    )
