"""``net: false``: a network namespace of its own, with nothing in it but loopback.

A new network namespace has one interface, ``lo``, down; bringing it up lets the project
talk to itself (its own servers and clients) and to nothing else. Creating one needs
CAP_SYS_ADMIN and bringing lo up CAP_NET_ADMIN: root has both, the agent's service unit the
first; a user with neither gets both inside a user namespace of its own where the kernel
allows unprivileged ones (Landlock's TCP rules are the fallback, confine.py).
"""

import fcntl
import os
import socket
import struct

from . import libc

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
# struct ifreq: the name, then a union of which the flags are the first 16 bits.
_IFREQ = "16sH22x"


def _loopback_up():
    """Brings ``lo`` up; False when that needs CAP_NET_ADMIN the process lacks."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(_IFREQ, b"lo", 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        try:
            fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))
        except PermissionError:
            return False
    return True


def _write(path, text):
    with open(path, "w") as file:
        file.write(text)


def isolate():
    """Moves this process into a new network namespace (needs CAP_SYS_ADMIN) and brings
    loopback up (needs CAP_NET_ADMIN: root has both); returns whether loopback is up."""
    libc.unshare(libc.CLONE_NEWNET, what="unshare(CLONE_NEWNET)")
    return _loopback_up()


def isolate_in_user_namespace():
    """The same for a user without privileges: a user namespace that maps only itself.

    The process keeps its uid and gid (mapped to themselves); the capabilities it has in
    the new namespace go at its next exec, since its uid there is not 0.
    """
    uid, gid = os.getuid(), os.getgid()
    libc.unshare(libc.CLONE_NEWUSER | libc.CLONE_NEWNET, what="unshare(CLONE_NEWUSER)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    return _loopback_up()
