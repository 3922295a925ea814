"""The launcher that stands between the agent's worker and a deployed project's process.

The worker runs, from the folder holding this package::

    python3 -m robot_agent_sandbox --spec JSON

JSON says what to run (``argv``, ``cwd``, ``env``) and what it may touch (``read``,
``write``, ``devices``, ``net``, ``run``, ``limits``, ``user``, ``cgroup``): spec.py has every
field. The launcher connects to ``socket``, forks, and the child confines itself layer by
layer where the kernel and the launcher's privileges allow (confine.py), sends one
``confined`` frame saying what is in force and what is missing, and execs the project. A
Python project's host gets the connection as fd 3 and speaks on it from then on; a C++
executable does not inherit it, so the agent sees it close once the exec has happened.
When a layer cannot be set up for a reason other than the kernel lacking it, the child sends
``launch_error`` instead and exits 127.

The launcher itself stays behind as the project's parent: a child subreaper, so every
descendant (double-forked daemons too) is its descendant. It waits for the project's main
process with ``waitpid``, then kills every remaining descendant (``cgroup.kill`` where it
has a cgroup) and exits with the main process's status, dying of its signal if it died of
one. Its stdin is the agent's control pipe: lines ``signal NAME`` (sent on to the main
process) and ``kill`` (SIGKILL it); end of file, SIGTERM or ``stop`` send the spec's
``stop_signal`` and SIGKILL after ``stop_grace_s``.

Stdlib only (``ctypes`` for the system calls the ``os`` module lacks); runs on Python 3.8.
"""
