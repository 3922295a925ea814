"""Resource limits of the project's processes: rlimits and the OOM killer's preference.

``memory_mb`` is RLIMIT_DATA: the private writable memory a process maps (heap, anonymous
mappings, thread stacks), which is what an allocation needs; beyond it Python raises
MemoryError and C++ throws std::bad_alloc. RLIMIT_AS would also count address space that
is only reserved (allocator arenas, CUDA's), which is not memory. ``processes`` is
RLIMIT_NPROC, which counts every task (threads included) of the user: it limits the project
only when the project has a user of its own. Limits are per process; a cgroup (cgroup.py),
where there is one, holds the whole project to its limits.
"""

import resource

MIB = 1024 * 1024

# The kernel kills the highest score first when memory runs out: the project, not the agent.
OOM_SCORE_ADJ = 1000

_RLIMITS = (
    ("memory_mb", resource.RLIMIT_DATA, MIB),
    ("open_files", resource.RLIMIT_NOFILE, 1),
    ("file_size_mb", resource.RLIMIT_FSIZE, MIB),
)


def _lower(kind, value):
    """Sets soft and hard limit to ``value``, or to the hard limit when that is lower (only
    root may raise it); returns what is in force."""
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY and hard < value:
        value = hard
    resource.setrlimit(kind, (value, value))
    return value


def apply(limits, own_user):
    """Applies ``limits`` (name: number or None); returns (in force, missing)."""
    in_force = {}
    missing = []
    for name, kind, unit in _RLIMITS:
        value = limits.get(name)
        if value is None:
            in_force[name] = None
            continue
        in_force[name] = _lower(kind, value * unit) // unit
    processes = limits.get("processes")
    in_force["processes"] = None
    if processes is not None:
        if own_user:
            in_force["processes"] = _lower(resource.RLIMIT_NPROC, processes)
        else:
            missing.append("processes limit (no user of its own to count processes by)")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return in_force, missing


def prefer_for_oom_kill():
    with open("/proc/self/oom_score_adj", "w") as file:
        file.write(str(OOM_SCORE_ADJ))
