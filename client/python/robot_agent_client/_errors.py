"""The client's failures: the agent answered an error, or it could not be reached."""


class RobotError(Exception):
    """The agent answered a request, or a call's callback, with an error.

    ``code`` is the agent's stable code (``UNKNOWN_METHOD``, ``BAD_ARGS``, ``EXCEPTION``,
    ...), ``message`` its text, ``data`` the rest: for a failed call, ``type`` (the Python
    exception's class on the robot) and ``traceback``.
    """

    def __init__(self, code, message, data=None):
        super().__init__("{}: {}".format(code, message))
        self.code = code
        self.message = message
        self.data = data if isinstance(data, dict) else {}

    @property
    def traceback(self):
        """The Python traceback from the robot, when the method raised."""
        return self.data.get("traceback")


class RobotConnectionError(RobotError):
    """There is no connection to the agent, or it ended before the answer came.

    Codes: ``UNREACHABLE`` (no answer, or the handshake failed), ``UNAUTHORIZED``
    (HTTP 401: the token was refused), ``FORBIDDEN`` (403), ``RATE_LIMITED`` (429),
    ``BUSY`` (another client holds the agent), ``CONNECTION_LOST`` (dropped and not
    resumed), ``CLOSED`` (closed by the agent or by the client).
    """


_HTTP_CODES = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 429: "RATE_LIMITED"}


def handshake_error(url, error):
    """The RobotConnectionError for a failed ``websockets.connect``."""
    status = getattr(error, "status_code", None)
    if status is None:
        status = getattr(getattr(error, "response", None), "status_code", None)
    code = _HTTP_CODES.get(status, "UNREACHABLE")
    if code == "UNAUTHORIZED":
        why = "the agent refused the token (HTTP 401)"
    elif status is not None:
        why = "the agent refused the connection (HTTP {})".format(status)
    else:
        why = str(error) or type(error).__name__
    return RobotConnectionError(code, "Cannot connect to {}: {}".format(display_url(url), why))


def display_url(url):
    """``url`` as messages show it: the token hidden, the session left out."""
    head, _, query = url.partition("?")
    kept = []
    for part in query.split("&") if query else []:
        name = part.split("=", 1)[0]
        if name == "token":
            kept.append("token=***")
        elif name != "session":
            kept.append(part)
    return head + ("?" + "&".join(kept) if kept else "")
