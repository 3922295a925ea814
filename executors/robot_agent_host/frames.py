"""The frames of the host's socket: encoding the host's messages, sending them whole from
any thread, and reading the agent's straight from the read buffer.

A frame is a 4-byte big-endian length of the rest, a 4-byte big-endian length of the head,
the head (UTF-8 JSON holding one object), then the body: JSON text passed on unparsed.
"""

import json
import struct
import threading

from .codes import EXCEPTION, EXIT_PROTOCOL_ERROR, NOT_SERIALIZABLE
from .report import format_exception, log, safe_repr, safe_str

# Results and event data whose JSON is longer go as a frame's body, passed on unparsed.
INLINE_LIMIT = 1024
# A frame's two lengths: of the rest of the frame (the head's length, head and body), and
# of the head. The first is what the frame limit applies to.
FRAME_HEADER = struct.Struct(">II")
ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_DECODE = json.JSONDecoder().decode
# Bytes read from the socket at a time.
READ_SIZE = 65536
# Frames up to this size go out in one write; a bigger body is not copied just to put
# four bytes in front of it.
_JOIN_LIMIT = 65536


def encode(message):
    return ENCODER.encode(message).encode("utf-8")


def error_frame(call_id, code, type_name, message, formatted_traceback=None, abandoned=None):
    error = {"code": code, "type": type_name, "message": message, "traceback": formatted_traceback}
    if abandoned is not None:
        error["abandoned"] = abandoned
    return encode({"t": "result", "id": call_id, "ok": False, "error": error})


def exception_frame(call_id, exc):
    """The error frame of a call whose project code raised exc."""
    return error_frame(
        call_id, EXCEPTION, type(exc).__name__, safe_str(exc), format_exception(exc)
    )


def result_frame(call_id, label, result, max_frame):
    """The frame of a call's result: the head, or (head, body) for a long result, or an
    error frame when the result cannot be sent."""
    try:
        body = ENCODER.encode(result)
    except Exception as exc:
        return error_frame(
            call_id,
            NOT_SERIALIZABLE,
            type(exc).__name__,
            f"Cannot encode result of {label} as JSON: {exc}",
        )
    body = body.encode("utf-8")
    if len(body) <= INLINE_LIMIT:
        return b'{"t":"result","id":%d,"ok":true,"result":%s}' % (call_id, body)
    head = b'{"t":"result","id":%d,"ok":true}' % call_id
    size = 4 + len(head) + len(body)
    if size > max_frame:
        return error_frame(
            call_id,
            NOT_SERIALIZABLE,
            "ValueError",
            f"Cannot send result of {label}: it encodes to {size} bytes, "
            f"over the frame limit of {max_frame} bytes",
        )
    return head, body


def event_frame(event, data, max_frame):
    """(head, body) of a push_message event; data JSON cannot encode goes as its repr().

    Raises TypeError for an event name that is not a string, ValueError for a frame over
    the limit.
    """
    if not isinstance(event, str):
        raise TypeError(
            f"Cannot push message: event must be a string, got {type(event).__name__}"
        )
    try:
        body = ENCODER.encode(data)
    except Exception:
        body = ENCODER.encode(safe_repr(data))
    body = body.encode("utf-8")
    head = encode({"t": "event", "event": event})
    if len(body) <= INLINE_LIMIT:
        head = b"%s,\"data\":%s}" % (head[:-1], body)
        body = b""
    size = 4 + len(head) + len(body)
    if size > max_frame:
        raise ValueError(
            f"Cannot push message {event!r}: it encodes to {size} bytes, "
            f"over the frame limit of {max_frame} bytes"
        )
    return head, body


class Writer:
    """Sends frames from any thread; each goes out whole, never interleaved with another.

    The socket is blocking, so a writer waits while the agent's side of it is full; the
    agent reads all the time, and whatever is written meanwhile waits its turn.
    """

    def __init__(self, sock):
        self._sock = sock
        self._lock = threading.Lock()
        self._closed = False

    def send(self, head, body=b""):
        """Sends one frame unless the writer is closed: head (an encoded JSON object), then
        body (JSON text the agent passes on as it is)."""
        header = FRAME_HEADER.pack(4 + len(head) + len(body), len(head))
        with self._lock:
            if self._closed:
                return
            try:
                if len(body) <= _JOIN_LIMIT:
                    self._sock.sendall(header + head + body)
                else:
                    self._sock.sendall(header + head)
                    self._sock.sendall(body)
            except OSError:
                # The agent has gone; the reader meets the end of the stream and exits.
                self._closed = True

    def close(self, timeout):
        """Stops all sending once the frame being sent is out; False if that took too long."""
        finished = self._lock.acquire(timeout=timeout)
        self._closed = True
        if finished:
            self._lock.release()
        return finished


class FrameReader:
    """Turns the bytes the agent sends into messages, each handed to handle(message).

    handle returns an exit code when the host must stop, and so does feed().
    """

    def __init__(self, max_frame, handle):
        self._max_frame = max_frame
        self._handle = handle
        self._buffer = bytearray()

    def feed(self, data):
        """Handles the frames data completes; returns an exit code when the host must stop."""
        buffer = self._buffer
        buffer += data
        size = len(buffer)
        start = 0
        while size - start >= 8:
            length, head_length = FRAME_HEADER.unpack_from(buffer, start)
            if length > self._max_frame:
                return protocol_error(
                    f"frame length {length} exceeds the limit of {self._max_frame} bytes"
                )
            if head_length > length - 4:
                return protocol_error(
                    f"head length {head_length} exceeds the frame length {length}"
                )
            end = start + 4 + length
            if end > size:
                break
            body_start = start + 8 + head_length
            try:
                message = _DECODE(buffer[start + 8:body_start].decode("utf-8"))
                if end > body_start and type(message) is dict and message.get("t") == "call":
                    # Long args come as the body; any other body is ignored.
                    message["args"] = _DECODE(buffer[body_start:end].decode("utf-8"))
            except ValueError as exc:
                return protocol_error(f"frame is not valid UTF-8 JSON: {exc}")
            start = end
            code = self._handle(message)
            if code is not None:
                return code
        if start:
            del buffer[:start]
        return None


def protocol_error(reason):
    """Logs a broken frame and returns the exit code it calls for."""
    log("protocol error: " + reason)
    return EXIT_PROTOCOL_ERROR
