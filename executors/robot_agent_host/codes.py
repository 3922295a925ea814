"""Every code the host sends: the error codes of results and load errors, and its exit codes.

The error codes are the agent's own (``ErrorCode`` in errors.ts), which passes them on to
the client unchanged; a test checks that each one in ERROR_CODES is a key there.
"""

# Error codes, in the ``code`` of an error object.

# The project failed to import or its init() raised (a ``load_error`` frame).
START_FAILED = "START_FAILED"
# The call's args are not an object, do not fit the method, or its timeout is not positive.
BAD_ARGS = "BAD_ARGS"
# The project has no object of that name a call may target.
UNKNOWN_OBJECT = "UNKNOWN_OBJECT"
# The object has no public method of that name.
UNKNOWN_METHOD = "UNKNOWN_METHOD"
# Project code raised: the method, the object's constructor, or its attribute lookup.
EXCEPTION = "EXCEPTION"
# The result cannot be encoded as JSON, or it encodes to more than the frame limit.
NOT_SERIALIZABLE = "NOT_SERIALIZABLE"
# The call ran longer than its timeout.
TIMEOUT = "TIMEOUT"
# The agent cancelled the call, or shut the host down while it ran.
CANCELLED = "CANCELLED"

ERROR_CODES = (
    START_FAILED,
    BAD_ARGS,
    UNKNOWN_OBJECT,
    UNKNOWN_METHOD,
    EXCEPTION,
    NOT_SERIALIZABLE,
    TIMEOUT,
    CANCELLED,
)

# Exit codes of the process.

# After ``shutdown``, or when the agent closes the socket.
EXIT_OK = 0
# The project failed to load (after its ``load_error`` frame).
EXIT_LOAD_FAILED = 1
# Bad arguments, or the agent's socket cannot be reached.
EXIT_USAGE = 2
# A frame over the limit, or a frame that is not a JSON object.
EXIT_PROTOCOL_ERROR = 3
