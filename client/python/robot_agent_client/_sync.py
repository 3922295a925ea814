"""The blocking client: an event loop on a thread of its own runs the AsyncRobot, and
attributes stand for the project's objects and methods."""

import asyncio
import collections
import concurrent.futures
import threading

from ._core import AsyncRobot


class _LoopThread:
    """An asyncio loop on a daemon thread; ``run`` waits for a coroutine on it."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="robot-agent-client", daemon=True)
        self.thread.start()

    def _main(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine, timeout=None):
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except (KeyboardInterrupt, concurrent.futures.TimeoutError):
            # Cancelling the task cancels a call in the agent too.
            future.cancel()
            raise

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class MethodProxy:
    """``robot.arm.wave``: calling it calls the method in the project."""

    __slots__ = ("_robot", "_object", "_method")

    def __init__(self, robot, obj, method):
        self._robot = robot
        self._object = obj
        self._method = method

    def _info(self):
        described = self._robot.descriptions.get(self._object) or {}
        return (described.get("methods") or {}).get(self._method)

    def __call__(self, *args, **kwargs):
        if args:
            kwargs = _by_name(self._object, self._method, self._info(), args, kwargs)
        return self._robot.call(self._object, self._method, kwargs)

    @property
    def __doc__(self):
        info = self._info()
        return info.get("doc") if info else None

    def signature(self):
        """The method's parameters as written, e.g. ``Move(vx: float, vy: float, vyaw: float)``."""
        info = self._info()
        if not info or info.get("params") is None:
            return "{}(...)".format(self._method)
        parts = []
        for param in info["params"]:
            text = param["name"] + (": " + param["annotation"] if param.get("annotation") else "")
            if "default" in param:
                text += " = " + (str(param["default"]) if param.get("default_repr") else repr(param["default"]))
            parts.append(text)
        returns = (info.get("returns") or {}).get("annotation")
        return "{}({}){}".format(self._method, ", ".join(parts), " -> " + returns if returns else "")

    def __repr__(self):
        return "<method {}.{} on {}>".format(self._object, self.signature(), self._robot.url)


def _by_name(obj, method, info, args, kwargs):
    """Positional arguments matched to the described parameters' names: the agent calls
    methods with keyword arguments."""
    params = (info or {}).get("params")
    if params is None:
        raise TypeError(
            "{0}.{1}: pass arguments by name, e.g. {1}(x=1): the agent does not describe its "
            "parameters".format(obj, method)
        )
    names = [p["name"] for p in params if p["kind"] in ("positional_only", "positional_or_keyword")]
    if len(args) > len(names):
        raise TypeError("{}.{}() takes {} positional arguments but {} were given".format(
            obj, method, len(names), len(args)))
    merged = dict(zip(names, args))
    for name in kwargs:
        if name in merged:
            raise TypeError("{}.{}() got multiple values for argument {!r}".format(obj, method, name))
    merged.update(kwargs)
    return merged


class ObjectProxy:
    """``robot.arm``: its attributes are the object's methods."""

    __slots__ = ("_robot", "_name")

    def __init__(self, robot, name):
        self._robot = robot
        self._name = name

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)
        return MethodProxy(self._robot, self._name, method)

    def __dir__(self):
        return list(self._robot.objects.get(self._name, []))

    def __repr__(self):
        return "<object {} on {}>".format(self._name, self._robot.url)


def _chain_entries(entries, live):
    """The recent entries, then each new one's data as it arrives."""
    for entry in entries:
        yield entry
    for event in live:
        yield event.data


class _EventIterator:
    """Events collected on the client's thread from the moment it is made, read here."""

    def __init__(self, core, name, timeout, max_queued=10000):
        self._timeout = timeout
        self._queue = collections.deque(maxlen=max_queued)
        self._ready = threading.Condition()
        self._ended = False
        self._remove = core.add_listener(self._put, name)
        self._unwatch = core.on_connection(lambda kind, error: kind == "close" and self.close())

    def _put(self, event):
        with self._ready:
            self._queue.append(event)
            self._ready.notify()

    def __iter__(self):
        return self

    def __next__(self):
        with self._ready:
            if not self._ready.wait_for(lambda: self._queue or self._ended, self._timeout):
                raise StopIteration
            if not self._queue:
                raise StopIteration
            return self._queue.popleft()

    def close(self):
        """Stops collecting events."""
        self._remove()
        self._unwatch()
        with self._ready:
            self._ended = True
            self._ready.notify_all()


class Robot:
    """A connected robot: ``robot.sport_client.StandUp()`` calls a method of the running
    project (``robot["name"]`` for an object whose name is one of Robot's own methods).

    Every method blocks until the agent answers, and raises RobotError with the agent's
    code when it answers an error. Make one with ``connect(url, token)``; close it with
    ``close()`` or a ``with`` block.
    """

    def __init__(self, core, loop):
        self._core = core
        self._loop = loop

    @property
    def url(self):
        """The agent's URL, with the token hidden."""
        return self._core.url

    @property
    def objects(self):
        """Each object of the running project and its methods, as the last ``start``,
        ``rollback`` or ``deploy(start=True)`` of this client said."""
        return self._core.objects

    @property
    def agent_version(self):
        """The agent's version."""
        return self._core.agent_version

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return ObjectProxy(self, name)

    def __getitem__(self, name):
        return ObjectProxy(self, name)

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(self.objects))

    def call(self, obj, method, args=None, timeout=None):
        """Calls ``obj.method(**args)`` and returns its result; after ``timeout`` seconds
        the call is cancelled and RobotError ``TIMEOUT`` raised."""
        return self._loop.run(self._core.call(obj, method, args, timeout))

    def request(self, command, params=None, timeout=None):
        """Sends any command and returns its reply's ``data``."""
        return self._loop.run(self._core.request(command, params, timeout))

    @property
    def descriptions(self):
        """What ``describe`` last said of the objects' methods."""
        return self._core.descriptions

    def describe(self, obj=None):
        """The running project's objects and methods, with parameters and docstrings."""
        return self._loop.run(self._core.describe(obj))

    def start(self):
        """Starts the current project; returns its version and objects."""
        return self._loop.run(self._core.start())

    def status(self):
        """The agent's, worker's and project's state."""
        return self._loop.run(self._core.status())

    def rollback(self):
        """Makes the previous version current and starts it."""
        return self._loop.run(self._core.rollback())

    def cancel(self, call_id):
        """Asks the agent to cancel a call."""
        return self._loop.run(self._core.cancel(call_id))

    def deploy(self, project, start=False, on_progress=None, chunk_size=1 << 20):
        """Deploys a folder, a zip file or zip bytes (chunked, resumable); returns the
        outcome with ``version``. ``on_progress`` is called on the client's thread."""
        return self._loop.run(self._core.deploy(project, start, on_progress, chunk_size))

    def on_event(self, callback, name=None):
        """Calls ``callback(event)`` for each event (of ``name`` only, if given), on the
        client's thread; returns a function that removes it."""
        return self._core.add_listener(callback, name)

    def events(self, name=None, timeout=None):
        """The events from this call on (of ``name`` only, if given), as an iterator that
        stops after ``timeout`` seconds without one, or when the connection closes."""
        return _EventIterator(self._core, name, timeout)

    def logs(self, follow=False, level="info", lines=200, source="all", timeout=None):
        """The agent's recent log records and the project's ``print()`` output (dicts with
        ``at``, ``level``, ``source``, ``message``, and for project lines ``stream`` and
        ``version``), oldest first. With ``follow``, an iterator that goes on with new ones
        as they come (until ``timeout`` seconds pass without one, or the connection closes)."""
        live = _EventIterator(self._core, "log", timeout) if follow else None
        params = {"follow": follow, "level": level, "lines": lines, "source": source}
        entries = self.request("logs", params)["entries"]
        if live is None:
            return entries
        return _chain_entries(entries, live)

    def close(self):
        """Closes the connection and stops the client's thread."""
        if self._loop.loop.is_closed():
            return
        self._loop.run(self._core.close())
        self._loop.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(url, token=None, session=None, reconnect=30.0, timeout=10.0):
    """Connects to the agent at ``url`` (``ws://HOST:8000/ws``, or ``HOST[:PORT]``) and
    returns a Robot. Raises RobotConnectionError when it cannot (``UNREACHABLE``,
    ``UNAUTHORIZED``, ``BUSY``, ...)."""
    loop = _LoopThread()
    try:

        async def make():
            return await AsyncRobot.connect(url, token, session, reconnect, timeout)

        core = loop.run(make())
    except BaseException:
        loop.stop()
        raise
    return Robot(core, loop)
