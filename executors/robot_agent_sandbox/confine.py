"""The launcher's child: confines itself, layer by layer, then becomes the project.

Each layer is set up where the kernel and the launcher's privileges allow it; one that
cannot be is named in the report's ``missing`` and the next layers still apply. The order
matters: what needs root (the cgroup, the storage view, the network namespace) comes
before the user switch, no_new_privs before seccomp and Landlock, and Landlock last, since
its rules are opened by path in the namespaces the project ends up in.
"""

import os
import shutil
import signal
import stat

from . import caps, landlock, libc, limits, network, seccomp, view
from .errors import LaunchError

# Readable and executable: programs and their libraries.
SYSTEM_EXEC = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt")
# Readable: configuration (/etc, the resolver's), and the kernel's views of processes.
SYSTEM_READ = ("/etc", "/proc", "/sys", "/run/systemd/resolve")
SYSTEM_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
# Shared memory (Python's multiprocessing locks, DDS transports).
SYSTEM_WRITE = ("/dev/shm",)

# Signals the launcher handles or ignores; the project starts with the default actions
# (an ignored signal would stay ignored across exec: Python ignores SIGPIPE and SIGXFSZ).
_RESET_SIGNALS = ("SIGINT", "SIGHUP", "SIGPIPE", "SIGXFSZ", "SIGCHLD", "SIGTERM")


def _program_path(spec, env):
    program = spec.argv[0]
    if "/" in program:
        return os.path.abspath(program)
    found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise LaunchError(f"cannot run {program}: not found on PATH")
    return found


def _program_prefixes(path):
    """The folder above the program's folder, as given and resolved (a venv's and its
    interpreter's)."""
    prefixes = []
    for candidate in (path, os.path.realpath(path)):
        prefix = os.path.dirname(os.path.dirname(candidate))
        if prefix not in prefixes and prefix != "/":
            prefixes.append(prefix)
    return prefixes


def _remove(name, folder_fd, folder):
    try:
        if folder:
            os.rmdir(name, dir_fd=folder_fd)
        else:
            os.unlink(name, dir_fd=folder_fd)
    except NotADirectoryError:
        os.unlink(name, dir_fd=folder_fd)
    except OSError:
        pass  # What the project made impossible to remove stays; the start goes on.


def _empty(fd):
    """Removes what it can inside the folder open as ``fd``."""
    for _, folders, files, folder_fd in os.fwalk(".", topdown=False, dir_fd=fd):
        for name in files:
            _remove(name, folder_fd, folder=False)
        for name in folders:
            _remove(name, folder_fd, folder=True)


def _own_folder(path, identity, empty):
    """Makes ``path`` a folder of the project's user (mode 0700), emptied if ``empty``.

    Its parent is open to all (1733, like /tmp without listing): the launcher may lack
    CAP_CHOWN, so it creates the folder as that user (its file system uid), through the
    parent's descriptor, which needs no way in through the agent's storage. A previous
    project may have left anything under the name, so only a real folder of the user's
    passes.
    """
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    if os.stat(parent).st_uid == os.geteuid():
        os.chmod(parent, 0o1733)
    parent_fd = os.open(parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with identity.acting():
            try:
                os.mkdir(name, 0o700, dir_fd=parent_fd)
            except FileExistsError:
                pass
        info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if not stat.S_ISDIR(info.st_mode):
            raise LaunchError(f"{path} is not a folder: remove it")
        if info.st_uid != identity.uid:
            if os.geteuid() != 0:
                raise LaunchError(f"{path} belongs to uid {info.st_uid}, not to {identity.name}")
            os.chown(name, identity.uid, identity.gid, dir_fd=parent_fd, follow_symlinks=False)
        if empty:
            with identity.acting():
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
                try:
                    _empty(fd)
                finally:
                    os.close(fd)
    finally:
        os.close(parent_fd)


def _storage(spec, identity, state):
    """Hides the agent's storage but for the project's folders, or lets the project's user
    through to just those."""
    if not spec.storage:
        return
    own = [path for path in (spec.data, spec.tmp) if path]
    read_only = [p for p in spec.exec + spec.read if view.inside(p, spec.storage)]
    read_write = [p for p in spec.write + own if view.inside(p, spec.storage)]
    gids = [identity.gid] + identity.groups
    view.make_readable(read_only)
    if "view" in spec.pretend_missing:
        why = "sandbox.pretend_missing"
    elif os.geteuid() == 0 or caps.has(caps.CAP_SYS_ADMIN):
        try:
            view.hide_storage(spec.storage, read_only, read_write, identity.uid, gids)
            return
        except view.Unavailable as exc:
            why = f"no mount namespace: {exc}"
    else:
        why = "no mount namespace: agent not root"
    if identity.switch:
        view.open_way(spec.storage, read_only + read_write, identity.uid, gids)
    state.missing.append(
        f"private storage view ({why}): Unix permissions alone keep the agent's files "
        "from the project"
    )


class Confinement:
    """The report being built: what is in force, what is missing."""

    def __init__(self, identity, missing):
        self.identity = identity
        self.missing = list(missing)
        self.landlock_abi = None
        self.net = "allowed"
        self.run = "allowed"
        self.limits = {}
        self.cgroup = None

    def report(self):
        return {
            "user": self.identity.report(),
            "landlock_abi": self.landlock_abi,
            "net": self.net,
            "run": self.run,
            "limits": self.limits,
            "cgroup": self.cgroup,
            "missing": self.missing,
        }


def _isolate_network(spec, state):
    """A network namespace for ``net: false``; returns why there is none, or None."""
    if spec.net:
        return None
    if "netns" in spec.pretend_missing:
        return "sandbox.pretend_missing"
    try:
        if os.geteuid() == 0 or caps.has(caps.CAP_SYS_ADMIN):
            loopback = network.isolate()
            where = "network namespace"
        else:
            loopback = network.isolate_in_user_namespace()
            where = "network namespace in a user namespace"
    except OSError as exc:
        return exc.strerror or str(exc)
    if loopback:
        state.net = f"loopback only ({where})"
    else:
        state.net = f"none, not even loopback ({where}; lo stays down without CAP_NET_ADMIN)"
    return None


def _landlock_rules(spec, program, ruleset, state):
    rules = [(path, landlock.READ | landlock.EXECUTE) for path in SYSTEM_EXEC]
    rules += [(path, landlock.READ) for path in SYSTEM_READ]
    rules += [(path, landlock.DEVICE) for path in SYSTEM_DEVICES]
    rules += [(path, landlock.READ | landlock.WRITE) for path in SYSTEM_WRITE]
    if spec.program_prefix:
        rules += [(path, landlock.READ | landlock.EXECUTE) for path in _program_prefixes(program)]
    rules.append((program, landlock.READ | landlock.EXECUTE))
    for path in spec.exec:
        if not ruleset.allow(path, landlock.READ | landlock.EXECUTE):
            raise LaunchError(f"cannot confine the project: {path} does not exist")
    for path, access in rules:
        ruleset.allow(path, access)
    for name, access, paths in (
        ("read", landlock.READ, spec.read),
        ("write", landlock.READ | landlock.WRITE, spec.write),
        ("devices", landlock.DEVICE, spec.devices),
    ):
        for path in paths:
            if not ruleset.allow(path, access):
                state.missing.append(f"{name} {path} (does not exist)")
    for path in (spec.data, spec.tmp):
        if path:
            ruleset.allow(path, landlock.READ | landlock.WRITE)


def _landlock(spec, program, net_missing, state):
    """Builds the ruleset (not yet enforced); None when the kernel has no Landlock."""
    abi = 0 if "landlock" in spec.pretend_missing else landlock.abi_version()
    if abi == 0:
        why = "sandbox.pretend_missing" if "landlock" in spec.pretend_missing else "none"
        state.missing.append(
            "landlock (kernel has none)" if why == "none" else f"landlock (kernel has none: {why})"
        )
        return None
    state.landlock_abi = abi
    ruleset = landlock.Ruleset(
        abi, deny_tcp=net_missing is not None, scope_abstract_unix=not spec.net
    )
    _landlock_rules(spec, program, ruleset, state)
    return ruleset


def _settle_network(spec, net_missing, ruleset, state):
    if spec.net or net_missing is None:
        return
    if ruleset is not None and ruleset.denies_tcp:
        state.net = "no TCP (landlock)"
        state.missing.append(
            f"network namespace ({net_missing}): Landlock denies TCP only, not UDP or raw sockets"
        )
    else:
        state.net = "allowed"
        state.missing.append(
            f"net: false (no network namespace: {net_missing}; no Landlock TCP rules)"
        )


def _forbid_processes(spec, state):
    if spec.run:
        return
    if "seccomp" in spec.pretend_missing or not seccomp.supported():
        state.missing.append("run: false (no seccomp filter for this machine)")
        return
    seccomp.forbid_new_processes()
    state.run = "no new processes (seccomp)"


def confine(spec, identity, cgroup, missing):
    """Applies every layer to this process; returns the report, the program's path and the
    environment to exec it with."""
    state = Confinement(identity, missing)
    env = dict(os.environ)
    if identity.switch:
        # The agent's own home and name mean nothing to the project's user.
        env.update(HOME=spec.data or "/nonexistent", USER=identity.name, LOGNAME=identity.name)
    env.update(spec.env)
    os.setsid()
    for name in _RESET_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    limits.prefer_for_oom_kill()
    if cgroup is not None:
        cgroup.join()
        state.cgroup = cgroup.path
    if spec.data:
        _own_folder(spec.data, identity, empty=False)
    if spec.tmp:
        _own_folder(spec.tmp, identity, empty=True)
    _storage(spec, identity, state)
    net_missing = _isolate_network(spec, state)
    program = _program_path(spec, env)
    if identity.switch:
        identity.add_device_groups(spec.devices)
    ruleset = _landlock(spec, program, net_missing, state)
    _settle_network(spec, net_missing, ruleset, state)
    os.chdir(spec.cwd)
    if identity.switch:
        identity.become()
    if identity.uid != 0:
        # Ambient capabilities of the agent's service would survive the switch and the exec.
        caps.drop_all()
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1, what="prctl(PR_SET_NO_NEW_PRIVS)")
    state.limits, limit_missing = limits.apply(spec.limits, own_user=identity.switch)
    if cgroup is not None and cgroup.limits_processes:
        # pids.max counts the project's tasks; RLIMIT_NPROC would count all of its user's.
        state.limits["processes"] = spec.limits.get("processes")
        limit_missing = [entry for entry in limit_missing if not entry.startswith("processes")]
    state.missing += limit_missing
    _forbid_processes(spec, state)
    if ruleset is not None:
        ruleset.enforce()
    # Set after the user switch, which clears it: the launcher's death kills the project.
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL, what="prctl(PR_SET_PDEATHSIG)")
    return state.report(), program, env
