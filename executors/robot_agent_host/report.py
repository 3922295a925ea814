"""What the host says about itself and about project exceptions: its log lines on stderr,
and an exception's text and traceback with the host's own frames left out."""

import os
import sys

# Frames of any module in this folder are the host's, not the project's.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def log(message):
    sys.stderr.write("python_host: " + message + "\n")
    sys.stderr.flush()


def safe_str(value):
    try:
        return str(value)
    except Exception:
        return object.__repr__(value)


def safe_repr(value):
    try:
        return repr(value)
    except Exception:
        return object.__repr__(value)


def format_exception(exc):
    """The traceback of a project exception, without the host's own leading frames."""
    import traceback

    tb = exc.__traceback__
    while tb is not None and is_host_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def exception_location(exc, directory):
    """(file relative to directory, line) where the project raised exc: a SyntaxError's
    own position, else the innermost traceback frame in the project's files; (None, None)
    when no project file is involved."""
    prefix = os.path.join(os.path.abspath(directory), "")
    if isinstance(exc, SyntaxError) and isinstance(exc.filename, str):
        path = os.path.abspath(exc.filename)
        if path.startswith(prefix):
            return os.path.relpath(path, prefix), exc.lineno
    found = (None, None)
    tb = exc.__traceback__
    while tb is not None:
        path = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if path.startswith(prefix):
            found = (os.path.relpath(path, prefix), tb.tb_lineno)
        tb = tb.tb_next
    return found


def format_current_exception():
    import traceback

    return traceback.format_exc()


def is_host_frame(filename):
    """Whether a frame's file is one of the host's modules or the import machinery."""
    return filename.startswith(_PACKAGE_DIR) or filename.startswith("<frozen importlib")


def format_seconds(seconds):
    return "%g" % seconds
