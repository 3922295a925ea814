"""What the agent asks the launcher for: one JSON object, checked field by field."""

import json
import signal

from .errors import LaunchError

# name: (type, default); a default of ... marks a required field.
_FIELDS = {
    # The program and its arguments; argv[0] is looked up on PATH when it has no "/".
    "argv": (list, ...),
    "cwd": (str, "/"),
    # Set in the project's environment, over the launcher's own.
    "env": (dict, {}),
    # The agent's Unix socket: connected first; the report goes there.
    "socket": (str, None),
    # Hand the connection to the program as fd 3 (the Python host); otherwise it closes
    # at exec, which tells the agent the exec happened.
    "pass_socket": (bool, False),
    "user": (str, "robot-agent-sandbox"),
    "allow_root": (bool, False),
    # Folders (or files) readable and executable: the host package, the project's version.
    "exec": (list, []),
    "read": (list, []),
    "write": (list, []),
    "devices": (list, []),
    # Readable and executable too: the program's prefix (an interpreter and its library).
    "program_prefix": (bool, False),
    "net": (bool, True),
    "run": (bool, True),
    # memory_mb, processes, open_files, file_size_mb: a number, or null for none.
    "limits": (dict, {}),
    # The agent's storage, hidden but for the paths above inside it.
    "storage": (str, None),
    # Made for the project and given to its user: the data folder (kept), the temp folder
    # (emptied at each start).
    "data": (str, None),
    "tmp": (str, None),
    # "auto", "off" or a cgroup v2 folder.
    "cgroup": (str, "auto"),
    # Layers to treat as missing: landlock, netns, seccomp, cgroup, user, view.
    "pretend_missing": (list, []),
    "stop_signal": (str, "SIGTERM"),
    "stop_grace_s": ((int, float), 3),
    # Added to the message when the program cannot be executed.
    "exec_hint": (str, None),
    # Tried in turn, with argv[0] replaced, when the project's user may not run argv[0]
    # (an interpreter under a private home): the system's interpreters.
    "exec_fallbacks": (list, []),
}

LAYERS = ("landlock", "netns", "seccomp", "cgroup", "user", "view")


class Spec:
    """The fields of ``_FIELDS`` as attributes."""

    def __init__(self, fields):
        self.__dict__.update(fields)

    @property
    def stop_signum(self):
        return signal.Signals[self.stop_signal]


def parse(text):
    """Parses and checks the spec; raises LaunchError naming the first bad field."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise LaunchError(f"the spec is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise LaunchError("the spec is not a JSON object")
    unknown = sorted(set(value) - set(_FIELDS))
    if unknown:
        raise LaunchError(f"the spec has unknown fields: {', '.join(unknown)}")
    fields = {}
    for name, (kind, default) in _FIELDS.items():
        if name not in value or value[name] is None:
            if default is ...:
                raise LaunchError(f"the spec lacks '{name}'")
            fields[name] = default
            continue
        item = value[name]
        if not isinstance(item, kind) or isinstance(item, bool) and kind is not bool:
            raise LaunchError(f"the spec's '{name}' has the wrong type")
        fields[name] = item
    if not fields["argv"] or not all(isinstance(arg, str) for arg in fields["argv"]):
        raise LaunchError("the spec's 'argv' must be a non-empty list of strings")
    for name in ("exec", "read", "write", "devices", "exec_fallbacks"):
        if not all(isinstance(path, str) and path.startswith("/") for path in fields[name]):
            raise LaunchError(f"the spec's '{name}' must list absolute paths")
    bad = [layer for layer in fields["pretend_missing"] if layer not in LAYERS]
    if bad:
        raise LaunchError(f"the spec's 'pretend_missing' names unknown layers: {bad}")
    if fields["stop_signal"] not in signal.Signals.__members__:
        raise LaunchError(f"the spec's 'stop_signal' is not a signal: {fields['stop_signal']}")
    return Spec(fields)
