"""AsyncRobot: one connection to an agent, over asyncio and ``websockets``.

Requests get an id and are matched to their replies, calls to their callbacks; events go
to listeners. When the link drops, the client reconnects with back-off under the same
``?session=``: requests made meanwhile wait, and results the agent kept for the session
arrive on reconnect.
"""

import asyncio
import collections
import json
import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import websockets

from ._errors import RobotConnectionError, RobotError, display_url, handshake_error

DEFAULT_PORT = 8000
# The agent refuses a second client with this close code (after a BUSY error).
CLOSE_BUSY = 4001
# Another operator took control: not resumed.
CLOSE_TAKEN_OVER = 4003
_HOST_WITH_PORT = re.compile(r"^(\[[^\]]+\]|[^:/]+):\d+$")


def agent_url(address, token=None, session=None):
    """The WebSocket URL of an agent: ``ws://``/``wss://`` as given, ``http(s)://`` turned
    into ``ws(s)://``, a bare ``HOST[:PORT]`` read as ``ws://HOST:PORT/ws`` (port 8000 by
    default); ``token`` and ``session`` become query parameters."""
    text = address.strip()
    if "://" not in text:
        host, slash, path = text.partition("/")
        if not _HOST_WITH_PORT.match(host):
            host = "{}:{}".format(host, DEFAULT_PORT)
        text = "ws://" + host + ("/" + path if slash else "/ws")
    parts = urlsplit(text)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError("Invalid agent address: {!r} is not a ws:// URL or a host".format(address))
    replaced = [name for name, value in (("token", token), ("session", session)) if value]
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in replaced]
    if token:
        query.append(("token", token))
    if session:
        query.append(("session", session))
    return urlunsplit((scheme, parts.netloc, parts.path or "/ws", urlencode(query), ""))


class Event:
    """An event from the agent: a project's ``push_message(name, data)``,
    ``upload_progress``, ``project_exited``, ..."""

    __slots__ = ("name", "data")

    def __init__(self, name, data):
        self.name = name
        self.data = data

    def __repr__(self):
        return "Event({!r}, {!r})".format(self.name, self.data)


def _retrieve(future):
    if not future.cancelled():
        future.exception()


class _EventStream:
    """An async iterator over events, collecting them from the moment it is made."""

    def __init__(self, robot, name, max_queued):
        self._queue = collections.deque(maxlen=max_queued)
        self._ready = asyncio.Event()
        self._ended = False
        self._remove = robot.add_listener(self._put, name)
        self._unwatch = robot.on_connection(lambda kind, error: kind == "close" and self._end())

    def _put(self, event):
        self._queue.append(event)
        self._ready.set()

    def _end(self):
        self._ended = True
        self._remove()
        self._unwatch()
        self._ready.set()

    def __aiter__(self):
        return self

    async def __anext__(self):
        while not self._queue:
            if self._ended:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    async def aclose(self):
        self._queue.clear()
        self._end()


class AsyncRobot:
    """A connection to one robot agent; make one with ``await AsyncRobot.connect(url)``."""

    def __init__(self, url, session, reconnect, timeout):
        self._url = url
        self.session = session
        self._reconnect = reconnect
        self._timeout = timeout
        self._ws = None
        self._state = "connecting"
        self._replies = {}
        self._callbacks = {}
        self._outbox = []
        self._listeners = []
        self._connection_listeners = []
        self._failure = None
        self._ids = 0
        self._prefix = os.urandom(3).hex()
        self._refusal = None
        self._open = asyncio.Event()
        self._reconnecting = None
        self.agent_version = None
        #: Each object of the running project and its methods, as ``start`` last said.
        self.objects = {}
        #: What ``describe`` last said of them: parameters, types, docstrings (or {}).
        self.descriptions = {}

    @classmethod
    async def connect(cls, url, token=None, session=None, reconnect=30.0, timeout=10.0):
        """Connects and returns once the agent has accepted the connection.

        ``session``: the ``?session=`` id (random by default; ``False`` for none).
        ``reconnect``: seconds to keep trying after the link drops (0: never).
        ``timeout``: seconds one connection attempt may take.
        Raises RobotConnectionError (``UNREACHABLE``, ``UNAUTHORIZED``, ``BUSY``, ...).
        """
        if session is None:
            session = os.urandom(12).hex()
        robot = cls(agent_url(url, token, session or None), session or None, reconnect, timeout)
        try:
            await robot._establish()
            # The running project's objects and their parameters, for the proxies.
            await robot.refresh(timeout)
        except BaseException:
            robot._state = "closed"
            raise
        return robot

    @property
    def url(self):
        """The agent's URL, with the token hidden."""
        return display_url(self._url)

    @property
    def state(self):
        """``connecting``, ``open``, ``reconnecting`` or ``closed``."""
        return self._state

    def next_id(self, prefix="r"):
        """A fresh request id, unique to this client."""
        self._ids += 1
        return "{}-{}-{}".format(prefix, self._prefix, self._ids)

    async def request(self, command, params=None, timeout=None, id=None):
        """Sends ``command`` and returns its reply's ``data``; raises RobotError with the
        agent's code when it answers an error. Works for any command, known or new."""
        rid = self.next_id() if id is None else id
        reply = self.wait_reply(rid)
        await self.send_text(json.dumps({"command": command, "id": rid, "params": params or {}}))
        message = await self._wait(reply, timeout, "{} got no reply".format(command))
        if message.get("status") == "error":
            raise RobotError(message.get("code", "INTERNAL"), message.get("message"), message.get("data"))
        return message.get("data")

    async def call(self, obj, method, args=None, timeout=None):
        """Calls ``obj.method(**args)`` in the running project and returns its result.

        Raises RobotError: a refused call (``UNKNOWN_METHOD``, ``NOT_STARTED``, ...) or a
        failed one (``EXCEPTION``, ``BAD_ARGS``, ...; ``data`` has ``type`` and
        ``traceback``). After ``timeout`` seconds, or when the task is cancelled, the call
        is cancelled in the agent too.
        """
        cid = self.next_id("call")
        callback = asyncio.get_event_loop().create_future()
        self._callbacks[cid] = callback
        try:
            params = {"object": obj, "method": method, "args": args or {}}
            await self.request("process", params, id=cid)
            if timeout is None:
                message = await callback
            else:
                message = await asyncio.wait_for(callback, timeout)
        except asyncio.TimeoutError:
            asyncio.ensure_future(self._cancel_quietly(cid))
            raise RobotError("TIMEOUT", "{}.{} gave no result within {} s; cancelled".format(obj, method, timeout))
        except asyncio.CancelledError:
            asyncio.ensure_future(self._cancel_quietly(cid))
            raise
        finally:
            if self._callbacks.get(cid) is callback:
                del self._callbacks[cid]
        data = message.get("data") or {}
        if data.get("ok"):
            return data.get("result")
        error = data.get("error") or {}
        raise RobotError(error.get("code", "INTERNAL"), error.get("message", "Call failed"), error)

    async def describe(self, obj=None, timeout=None):
        """The running project's objects: each method's parameters (name, kind, default,
        annotation, JSON Schema), return annotation, whether async, and docstring summary.
        Also refreshes ``objects`` and ``descriptions``."""
        data = await self.request("describe", {} if obj is None else {"object": obj}, timeout)
        objects = data.get("objects") or {}
        if obj is None:
            self.descriptions = objects
            self.objects = {name: sorted(entry.get("methods") or {}) for name, entry in objects.items()}
        else:
            self.descriptions.update(objects)
        return data

    async def refresh(self, timeout=None):
        """Reloads ``objects`` and ``descriptions`` from ``describe``; quietly does nothing
        when no project is started (or the agent predates ``describe``)."""
        try:
            await self.describe(timeout=timeout)
        except RobotError as error:
            if error.code not in ("NOT_STARTED", "UNKNOWN_COMMAND"):
                raise

    async def start(self, timeout=None):
        """Starts the current project; returns its version and objects."""
        data = await self.request("start", timeout=timeout)
        self.objects = dict(data.get("objects") or {})
        await self.refresh(timeout)
        return data

    async def status(self, timeout=None):
        """The agent's, worker's and project's state."""
        return await self.request("status", timeout=timeout)

    async def rollback(self, timeout=None):
        """Makes the previous version current and starts it."""
        data = await self.request("rollback", timeout=timeout)
        self.objects = dict(data.get("objects") or {})
        await self.refresh(timeout)
        return data

    async def cancel(self, call_id):
        """Asks the agent to cancel the call with id ``call_id``."""
        await self.request("cancel", {"call_id": call_id})

    async def deploy(self, project, start=False, on_progress=None, chunk_size=1 << 20):
        """Deploys a project (a folder, a zip file, or zip bytes) through the chunked upload
        and returns the deploy's outcome (``version``, ...); with ``start``, starts it and
        adds ``started``. ``on_progress(progress)`` gets a dict: ``phase`` (uploading,
        resumed, interrupted, deploying), ``received``, ``total``, ``bytes_per_second``."""
        from ._upload import read_project, upload_zip

        outcome = await upload_zip(self, read_project(project), on_progress, chunk_size)
        if start:
            outcome = dict(outcome, started=await self.start())
        return outcome

    def add_listener(self, callback, name=None):
        """Calls ``callback(event)`` for each event (of ``name`` only, if given), on the
        event loop's thread; returns a function that removes it."""
        entry = (callback, name)
        self._listeners.append(entry)
        return lambda: entry in self._listeners and self._listeners.remove(entry)

    def events(self, name=None, max_queued=10000):
        """The events from this call on (of ``name`` only, if given), as an async
        iterator: ``async for event in robot.events(): ...``; it ends when the client
        closes or ``aclose()`` is called."""
        return _EventStream(self, name, max_queued)

    def on_connection(self, callback):
        """Calls ``callback(kind, error)`` on ``disconnect``, ``reconnect`` and ``close``;
        returns a function that removes it."""
        self._connection_listeners.append(callback)
        return lambda: callback in self._connection_listeners and self._connection_listeners.remove(callback)

    async def wait_open(self):
        """Returns once the connection is open; raises if it closed for good."""
        while self._state != "open":
            if self._state == "closed":
                raise self._failure
            await self._open.wait()

    async def close(self):
        """Closes the connection; waiting requests raise ``CLOSED``."""
        self._fail(RobotConnectionError("CLOSED", "Connection closed by the client"), by_client=True)
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    # The plumbing the upload uses too.

    def wait_reply(self, rid):
        """A future for the next reply (not a callback) under ``rid``; several futures for
        one id get its replies in order (an upload's outcome comes second)."""
        future = asyncio.get_event_loop().create_future()
        # A reply nobody waits for any more (an upload pass given up) must not warn.
        future.add_done_callback(_retrieve)
        if self._state == "closed":
            future.set_exception(self._failure)
        else:
            self._replies.setdefault(rid, collections.deque()).append(future)
        return future

    def drop_reply(self, rid, future):
        """Forgets a future made by ``wait_reply``."""
        queue = self._replies.get(rid)
        if queue and future in queue:
            queue.remove(future)
            if not queue:
                del self._replies[rid]

    async def send_text(self, text):
        """Sends a text message, or queues it while the link is down."""
        if self._state == "open" and self._ws is not None:
            try:
                await self._ws.send(text)
                return
            except websockets.ConnectionClosed:
                pass
        if self._state == "closed":
            raise self._failure
        self._outbox.append(text)

    async def send_binary(self, data):
        """Sends a binary message now; raises RobotConnectionError when the link is down."""
        if self._state != "open" or self._ws is None:
            raise self._failure or RobotConnectionError("CONNECTION_LOST", "Cannot send: the link is down")
        try:
            await self._ws.send(data)
        except websockets.ConnectionClosed:
            raise RobotConnectionError("CONNECTION_LOST", "Cannot send: the link dropped")

    # Inside.

    async def _wait(self, future, timeout, what):
        if timeout is None:
            return await future
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise RobotError("TIMEOUT", "{} within {} s".format(what, timeout))

    async def _cancel_quietly(self, cid):
        try:
            await self.request("cancel", {"call_id": cid}, timeout=self._timeout)
        except Exception:
            pass

    async def _establish(self):
        try:
            ws = await websockets.connect(self._url, max_size=None, open_timeout=self._timeout)
        except asyncio.TimeoutError:
            message = "Cannot connect to {}: no answer within {} s".format(self.url, self._timeout)
            raise RobotConnectionError("UNREACHABLE", message)
        except (OSError, websockets.exceptions.InvalidHandshake, websockets.exceptions.InvalidURI) as error:
            raise handshake_error(self._url, error)
        self._ws = ws
        self._refusal = None
        reader = asyncio.ensure_future(self._read(ws))
        hello = self.next_id("hello")
        reply = self.wait_reply(hello)
        try:
            await ws.send(json.dumps({"command": "status", "id": hello}))
        except websockets.ConnectionClosed:
            pass
        done, _ = await asyncio.wait({reply, reader}, timeout=self._timeout, return_when=asyncio.FIRST_COMPLETED)
        if reply not in done:
            self.drop_reply(hello, reply)
            await ws.close()
            await reader
            if done:
                raise self._close_error(ws)
            raise RobotConnectionError("UNREACHABLE", "Cannot connect to {}: no handshake reply".format(self.url))
        data = reply.result().get("data") or {}
        self.agent_version = (data.get("agent") or {}).get("version")
        self._state = "open"
        self._open.set()
        outbox, self._outbox = self._outbox, []
        for text in outbox:
            await self.send_text(text)

    async def _read(self, ws):
        try:
            async for raw in ws:
                if not isinstance(raw, str):
                    continue
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    self._route(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._on_closed(ws)

    def _route(self, message):
        status = message.get("status")
        if status == "callback" and isinstance(message.get("event"), str):
            event = Event(message["event"], message.get("data"))
            for callback, name in list(self._listeners):
                if name is None or name == event.name:
                    callback(event)
            return
        rid = message.get("id")
        future = None
        if rid is not None and status == "callback":
            future = self._callbacks.pop(rid, None)
        elif rid is not None:
            queue = self._replies.get(rid)
            future = queue.popleft() if queue else None
            if queue is not None and not queue:
                del self._replies[rid]
        elif status == "error" and message.get("code") == "BUSY":
            self._refusal = message
        if future is not None and not future.done():
            future.set_result(message)

    def _close_error(self, ws):
        code = getattr(ws, "close_code", None)
        if self._refusal is not None or code == CLOSE_BUSY:
            message = (self._refusal or {}).get("message") or "Connection refused: another client is connected"
            return RobotConnectionError("BUSY", message)
        return RobotConnectionError("CLOSED", "Connection closed by the agent (close code {})".format(code))

    def _on_closed(self, ws):
        if ws is not self._ws:
            return
        self._ws = None
        self._open.clear()
        if self._state != "open":
            return
        error = self._close_error(ws)
        if not self._reconnect or getattr(ws, "close_code", None) == CLOSE_TAKEN_OVER:
            self._fail(error)
            return
        self._state = "reconnecting"
        self._emit("disconnect", error)
        self._reconnecting = asyncio.ensure_future(self._reconnect_loop(error))

    async def _reconnect_loop(self, error):
        loop = asyncio.get_event_loop()
        deadline = loop.time() + self._reconnect
        wait = 0.25
        last = error
        while self._state == "reconnecting":
            await asyncio.sleep(wait)
            if self._state != "reconnecting":
                return
            try:
                await self._establish()
                self._emit("reconnect", None)
                return
            except RobotConnectionError as failure:
                last = failure
            if loop.time() + wait >= deadline:
                break
            wait = min(wait * 2, 5.0)
        if self._state == "reconnecting":
            message = "Connection lost: {} (gave up reconnecting after {} s)".format(last.message, self._reconnect)
            self._fail(RobotConnectionError("CONNECTION_LOST", message))

    def _fail(self, error, by_client=False):
        if self._state == "closed":
            return
        self._state = "closed"
        self._failure = error
        self._outbox = []
        self._open.set()
        futures = list(self._callbacks.values())
        for queue in self._replies.values():
            futures.extend(queue)
        self._callbacks.clear()
        self._replies.clear()
        for future in futures:
            if not future.done():
                future.set_exception(error)
        self._emit("close", None if by_client else error)

    def _emit(self, kind, error):
        for callback in list(self._connection_listeners):
            callback(kind, error)
