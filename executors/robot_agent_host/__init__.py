"""The host process that imports a deployed Python project and serves calls to it.

Start it from the folder holding this package, with that folder as the working directory
(as the agent does) or on ``PYTHONPATH``::

    python3 -m robot_agent_host (--socket PATH | --socket-fd N) --project DIR [--threads N]
        [--max-frame BYTES] [--call-timeout SECONDS]

Not from the project's folder: ``-m`` puts the working directory first on ``sys.path``,
where a project's ``inspect.py`` or ``queue.py`` would stand in for the standard modules
the host imports. The host changes into the project's folder before importing it.

The modules import each other relatively, so a project's own ``frames`` or ``host`` and
this package's never meet. The protocol is described in host.py, its codes in codes.py.
Stdlib only; runs on Python 3.8.
"""
