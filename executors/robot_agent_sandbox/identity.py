"""Who the project runs as: ``sandbox.user`` when the launcher may switch users (root, or
CAP_SETUID and CAP_SETGID, as the agent's service unit grants), else the launcher's own."""

import contextlib
import os
import pwd
import stat

from . import caps, libc
from .errors import LaunchError


class Identity:
    """A user to run as, and whether switching to it is what confines the project."""

    def __init__(self, name, uid, gid, groups, switch):
        self.name = name
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.switch = switch

    def report(self):
        return {"name": self.name, "uid": self.uid, "gid": self.gid}

    def can_access(self, info, mode_bits):
        """Whether this user passes the permission bits of ``info`` for (r=4, w=2, x=1)."""
        if self.uid == 0:
            return True
        if info.st_uid == self.uid:
            return (info.st_mode >> 6) & mode_bits == mode_bits
        if info.st_gid == self.gid or info.st_gid in self.groups:
            return (info.st_mode >> 3) & mode_bits == mode_bits
        return info.st_mode & mode_bits == mode_bits

    def add_device_groups(self, devices):
        """Joins the group of each granted device node the user could not otherwise open
        (``dialout`` for a serial port): Landlock, where there is one, still allows only
        the granted nodes."""
        for path in devices:
            try:
                info = os.stat(path)
            except OSError:
                continue
            if not (stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)):
                continue
            if not self.can_access(info, 6) and (info.st_mode >> 3) & 6 == 6:
                if info.st_gid not in self.groups:
                    self.groups.append(info.st_gid)

    @contextlib.contextmanager
    def acting(self):
        """File system calls inside run as the user (its file system uid and gid), so what
        they create is its own, without CAP_CHOWN."""
        if not self.switch:
            yield
            return
        old_gid = libc.call_quiet("setfsgid", self.gid)
        old_uid = libc.call_quiet("setfsuid", self.uid)
        try:
            yield
        finally:
            libc.call_quiet("setfsuid", old_uid)
            libc.call_quiet("setfsgid", old_gid)

    def become(self):
        """Switches this process to the user, for good (needs root)."""
        os.setgroups([self.gid] + self.groups)
        os.setresgid(self.gid, self.gid, self.gid)
        os.setresuid(self.uid, self.uid, self.uid)


def _name_of(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


# The sandbox user `robot-agent install` creates; without it (a machine the agent was
# never installed on, run as root) projects run as `nobody`, with a note in the log.
DEFAULT_USER = "robot-agent-sandbox"
FALLBACK_USER = "nobody"


def _fallback_user(user):
    """`nobody`'s entry when the default sandbox user is missing; else the error."""
    if user == DEFAULT_USER:
        try:
            entry = pwd.getpwnam(FALLBACK_USER)
        except KeyError:
            entry = None
        if entry is not None:
            note = (f"the sandbox user '{user}' does not exist (robot-agent install creates "
                    f"it); running the project as '{FALLBACK_USER}'")
            os.write(2, f"robot_agent_sandbox: {note}\n".encode())
            return entry
    raise LaunchError(
        f"the sandbox user '{user}' does not exist: create it "
        f"(useradd --system --no-create-home --shell /usr/sbin/nologin {user}) "
        "or set sandbox.user"
    ) from None


def resolve(user, allow_root, pretend_missing):
    """The identity to run as; raises LaunchError when it would be root without
    ``allow_root``. Returns (identity, missing)."""
    euid = os.geteuid()
    missing = []
    can_switch = euid == 0 or caps.has(caps.CAP_SETUID, caps.CAP_SETGID)
    if can_switch and "user" not in pretend_missing:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            entry = _fallback_user(user)
        groups = [gid for gid in os.getgrouplist(user, entry.pw_gid) if gid != entry.pw_gid]
        identity = Identity(user, entry.pw_uid, entry.pw_gid, groups, switch=entry.pw_uid != 0)
    else:
        gid = os.getegid()
        groups = [g for g in os.getgroups() if g != gid]
        identity = Identity(_name_of(euid), euid, gid, groups, switch=False)
        missing.append(
            "user switch (sandbox.pretend_missing)"
            if can_switch
            else "user switch (agent not root)"
        )
    if identity.uid == 0:
        if not allow_root:
            raise LaunchError(
                "the project would run as root: set sandbox.user to an unprivileged user, "
                "or sandbox.allow_root: true to allow it"
            )
        missing.append("unprivileged user (sandbox.allow_root: the project runs as root)")
    return identity, missing

