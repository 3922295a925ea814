"""Landlock: file (and, from ABI 4, TCP) access limited to what rules allow.

A ruleset names the access rights it handles; once enforced, the process and everything it
starts may use a handled right only beneath a path a rule grants it for. Rights the kernel's
ABI does not know are left out, so the same code serves every ABI from 1 up; no Landlock at
all (Linux before 5.13, or the LSM not enabled) is ABI 0.
"""

import ctypes
import errno
import os
import stat

from . import libc

ACCESS_FS_EXECUTE = 1 << 0
ACCESS_FS_WRITE_FILE = 1 << 1
ACCESS_FS_READ_FILE = 1 << 2
ACCESS_FS_READ_DIR = 1 << 3
ACCESS_FS_REMOVE_DIR = 1 << 4
ACCESS_FS_REMOVE_FILE = 1 << 5
ACCESS_FS_MAKE_CHAR = 1 << 6
ACCESS_FS_MAKE_DIR = 1 << 7
ACCESS_FS_MAKE_REG = 1 << 8
ACCESS_FS_MAKE_SOCK = 1 << 9
ACCESS_FS_MAKE_FIFO = 1 << 10
ACCESS_FS_MAKE_BLOCK = 1 << 11
ACCESS_FS_MAKE_SYM = 1 << 12
ACCESS_FS_REFER = 1 << 13  # ABI 2
ACCESS_FS_TRUNCATE = 1 << 14  # ABI 3
ACCESS_FS_IOCTL_DEV = 1 << 15  # ABI 5

ACCESS_NET_BIND_TCP = 1 << 0  # ABI 4
ACCESS_NET_CONNECT_TCP = 1 << 1

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1

READ = ACCESS_FS_READ_FILE | ACCESS_FS_READ_DIR
EXECUTE = ACCESS_FS_EXECUTE
WRITE = (
    ACCESS_FS_WRITE_FILE
    | ACCESS_FS_REMOVE_DIR
    | ACCESS_FS_REMOVE_FILE
    | ACCESS_FS_MAKE_CHAR
    | ACCESS_FS_MAKE_DIR
    | ACCESS_FS_MAKE_REG
    | ACCESS_FS_MAKE_SOCK
    | ACCESS_FS_MAKE_FIFO
    | ACCESS_FS_MAKE_BLOCK
    | ACCESS_FS_MAKE_SYM
    | ACCESS_FS_REFER
    | ACCESS_FS_TRUNCATE
)
DEVICE = READ | ACCESS_FS_WRITE_FILE | ACCESS_FS_TRUNCATE | ACCESS_FS_IOCTL_DEV
# The rights a rule on a file (not a folder) may carry.
_FILE_RIGHTS = (
    ACCESS_FS_EXECUTE
    | ACCESS_FS_WRITE_FILE
    | ACCESS_FS_READ_FILE
    | ACCESS_FS_TRUNCATE
    | ACCESS_FS_IOCTL_DEV
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi_version():
    """The kernel's Landlock ABI, 0 when it has none."""
    try:
        return libc.syscall(
            libc.SYS_LANDLOCK_CREATE_RULESET,
            ctypes.c_void_p(None),
            ctypes.c_size_t(0),
            ctypes.c_uint32(_CREATE_RULESET_VERSION),
            what="landlock_create_ruleset",
        )
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.EOPNOTSUPP):
            return 0
        raise


def handled_fs(abi):
    """Every file right ABI ``abi`` knows."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= ACCESS_FS_REFER
    if abi >= 3:
        rights |= ACCESS_FS_TRUNCATE
    if abi >= 5:
        rights |= ACCESS_FS_IOCTL_DEV
    return rights


class Ruleset:
    """A ruleset being built: rules added with ``allow``, then ``enforce`` once."""

    def __init__(self, abi, deny_tcp=False, scope_abstract_unix=False):
        self.abi = abi
        self.handled = handled_fs(abi)
        self.denies_tcp = deny_tcp and abi >= 4
        attr = _RulesetAttr(self.handled, 0, 0)
        size = 8
        if self.denies_tcp:
            attr.handled_access_net = ACCESS_NET_BIND_TCP | ACCESS_NET_CONNECT_TCP
            size = 16
        if abi >= 6:
            # Signals and abstract sockets outside the project's own processes: when the
            # project runs as the agent's user, nothing else keeps it from signalling it.
            attr.scoped = SCOPE_SIGNAL | (SCOPE_ABSTRACT_UNIX_SOCKET if scope_abstract_unix else 0)
            size = 24
        self._fd = libc.syscall(
            libc.SYS_LANDLOCK_CREATE_RULESET,
            ctypes.byref(attr),
            ctypes.c_size_t(size),
            ctypes.c_uint32(0),
            what="landlock_create_ruleset",
        )

    def allow(self, path, access):
        """Grants ``access`` beneath ``path``; False when the path does not exist."""
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            rights = access & self.handled
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                rights &= _FILE_RIGHTS
            if rights == 0:
                return True
            rule = _PathBeneathAttr(rights, fd)
            libc.syscall(
                libc.SYS_LANDLOCK_ADD_RULE,
                ctypes.c_int(self._fd),
                ctypes.c_int(_RULE_PATH_BENEATH),
                ctypes.byref(rule),
                ctypes.c_uint32(0),
                what=f"landlock_add_rule {path}",
            )
            return True
        finally:
            os.close(fd)

    def enforce(self):
        """Restricts this process and all it starts; needs no_new_privs (or CAP_SYS_ADMIN)."""
        try:
            libc.syscall(
                libc.SYS_LANDLOCK_RESTRICT_SELF,
                ctypes.c_int(self._fd),
                ctypes.c_uint32(0),
                what="landlock_restrict_self",
            )
        finally:
            os.close(self._fd)
