"""The project's view of the agent's storage: its own folders, and nothing else.

Two ways, the first where the launcher may create mount namespaces:

The agent's storage holds what the project must never see (tokens, logs, uploads, other
versions, the agent's sockets) beside what it needs (the host package, its version, its
data and temp folders), often under a folder only the agent may enter. In a mount namespace
of its own the project gets a small empty tmpfs over the storage folder (or over the
highest folder above it the project's user cannot enter) and, mounted back in place, only
the folders the spec grants inside storage: read-only ones as read-only bind mounts, so a
stored version stays unchanged even for a project running as root. The paths are the same
as the agent's, so nothing else in the spec changes. Needs CAP_SYS_ADMIN and mount(2).

Otherwise (the robot's service unit allows no mount namespace) the project's user is let
through to exactly those folders: search permission for others on the storage folder and
on each folder down to them, read on the read-only ones. Everything else there stays the
agent's by its own mode (the service's UMask=0027 gives others nothing), and Landlock,
where there is one, hides it besides.
"""

import errno
import os
import stat

from . import libc
from .errors import LaunchError

# statvfs(3) flags, which are the same bits as mount(2)'s.
_LOCKED_FLAGS = libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC


class Unavailable(Exception):
    """No mount namespace for the launcher here; nothing was changed."""


def _can_enter(path, uid, gids):
    info = os.stat(path)
    if uid == 0:
        return True
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in gids:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _first_closed(path, uid, gids):
    """The highest folder from / down to ``path`` that ``uid`` cannot enter, or None."""
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        folder = "/" + "/".join(parts[:depth])
        if not _can_enter(folder, uid, gids):
            return folder
    return None


def cover_point(storage, uid, gids):
    """Where the tmpfs goes: the highest folder from / down to ``storage`` that ``uid``
    cannot enter, else ``storage`` itself."""
    return _first_closed(storage, uid, gids) or storage


def inside(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def hide_storage(storage, read_only, read_write, uid, gids):
    """Covers ``storage`` in a new mount namespace, showing back only the given folders
    inside it (others are ignored). Returns where the tmpfs went."""
    shown = [(path, True) for path in read_only if inside(path, storage)]
    shown += [(path, False) for path in read_write if inside(path, storage)]
    # A folder before the folders inside it, which are then mounted on top.
    shown.sort(key=lambda item: item[0])
    try:
        libc.unshare(libc.CLONE_NEWNS, what="unshare(CLONE_NEWNS)")
        # Nothing mounted from here on may reach the agent's namespace.
        libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EINVAL, errno.ENOSYS):
            raise Unavailable(exc.strerror) from None
        raise
    top = cover_point(storage, uid, gids)
    # Opened before the tmpfs hides them; mounted back from /proc/self/fd.
    opened = []
    try:
        for path, read_only_mount in shown:
            if os.path.isdir(path):
                opened.append((path, os.open(path, os.O_PATH | os.O_CLOEXEC), read_only_mount))
        try:
            libc.mount(
                "tmpfs",
                top,
                "tmpfs",
                libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC,
                "mode=0755,size=64k,nr_inodes=1024",
            )
        except OSError as exc:
            if exc.errno == errno.EPERM:
                raise Unavailable(exc.strerror) from None
            raise
        for path, fd, read_only_mount in opened:
            os.makedirs(path, mode=0o755, exist_ok=True)
            libc.mount(f"/proc/self/fd/{fd}", path, None, libc.MS_BIND)
            flags = os.statvfs(path).f_flag & _LOCKED_FLAGS
            if read_only_mount:
                flags |= libc.MS_RDONLY
            libc.mount(None, path, None, libc.MS_REMOUNT | libc.MS_BIND | flags)
    finally:
        for _, fd, _ in opened:
            os.close(fd)
    return top


def _add_mode(path, bits):
    info = os.stat(path)
    if info.st_mode & bits != bits and info.st_uid == os.geteuid():
        os.chmod(path, stat.S_IMODE(info.st_mode) | bits)


def make_readable(folders):
    """Gives others read and search on ``folders`` themselves (their content is made
    readable when written: extraction, the runtime files)."""
    for path in folders:
        if os.path.isdir(path):
            _add_mode(path, stat.S_IROTH | stat.S_IXOTH)


def open_way(storage, folders, uid, gids):
    """Gives others search permission on ``storage`` and on every folder between it and
    each of ``folders``; raises LaunchError when a folder above storage, which is not the
    agent's to change, keeps the project's user out."""
    closed = _first_closed(os.path.dirname(storage.rstrip("/")), uid, gids)
    if closed is not None:
        raise LaunchError(
            f"the project's user cannot reach the agent's storage: {closed} is not searchable "
            f"by it (chmod o+x {closed}, or move storage.dir)"
        )
    for path in folders:
        if not inside(path, storage):
            continue
        relative = os.path.relpath(path, storage)
        current = storage
        _add_mode(current, stat.S_IXOTH)
        for part in relative.split(os.sep)[:-1]:
            if part in ("", "."):
                continue
            current = os.path.join(current, part)
            _add_mode(current, stat.S_IXOTH)
