"""Zipping a project folder: the same rules as ``robot-agent deploy``.

Left out: ``.git``, ``__pycache__``, ``*.pyc``, and what the folder's ``.robotignore``
lists (gitignore-style globs: ``#`` comments, ``!`` negation, a trailing ``/`` for folders
only, a leading or inner ``/`` to anchor at the top, ``**`` across folders). Unix modes
are kept, so a C++ executable stays executable.
"""

import io
import os
import re
import time
import zipfile

BUILT_IN_IGNORES = (".git/", "__pycache__/", "*.pyc", "/.robotignore")


def _glob_to_regex(glob, anchored):
    out = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if c == "*" and glob[i + 1:i + 2] == "*":
            if glob[i + 2:i + 3] == "/":
                out.append("(?:.*/)?")
                i += 3
            else:
                out.append(".*")
                i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and glob.find("]", i + 2) >= 0:
            close = glob.find("]", i + 2)
            body = glob[i + 1:close]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = close
        elif c == "\\" and i + 1 < len(glob):
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile(("^" if anchored else "^(?:.*/)?") + "".join(out) + "$")


def parse_ignore(text):
    """The rules of an ignore file: (regex, negate, folder_only) per pattern line."""
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        folder_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        glob = line[1:] if line.startswith("/") else line
        if glob:
            rules.append((_glob_to_regex(glob, anchored), negate, folder_only))
    return rules


def is_ignored(path, is_folder, rules):
    """Whether ``path`` (relative, ``/``-separated) is left out: the last match wins."""
    ignored = False
    for regex, negate, folder_only in rules:
        if folder_only and not is_folder:
            continue
        if regex.match(path):
            ignored = not negate
    return ignored


def _walk(root, relative, rules, found):
    folder = os.path.join(root, relative) if relative else root
    for name in sorted(os.listdir(folder)):
        path = relative + "/" + name if relative else name
        absolute = os.path.join(root, path)
        is_folder = os.path.isdir(absolute)
        if os.path.islink(absolute) and (is_folder or not os.path.exists(absolute)):
            continue
        if is_ignored(path, is_folder, rules):
            continue
        if is_folder:
            _walk(root, path, rules, found)
        else:
            found.append(path)


def zip_folder(root):
    """Zips the folder ``root``; returns the zip's bytes. Raises ValueError if it is empty."""
    text = ""
    ignore_file = os.path.join(root, ".robotignore")
    if os.path.exists(ignore_file):
        with open(ignore_file, encoding="utf-8") as handle:
            text = handle.read()
    rules = parse_ignore("\n".join(BUILT_IN_IGNORES)) + parse_ignore(text)
    found = []
    _walk(root, "", rules, found)
    if not found:
        raise ValueError("Cannot zip {}: no files to deploy (all ignored, or empty)".format(root))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in found:
            absolute = os.path.join(root, path)
            info = os.stat(absolute)
            stamp = max(info.st_mtime, 315532800)  # zip dates start in 1980
            entry = zipfile.ZipInfo(path, date_time=time.localtime(stamp)[:6])
            entry.external_attr = ((info.st_mode & 0o777) | 0o100000) << 16
            entry.create_system = 3
            entry.compress_type = zipfile.ZIP_DEFLATED
            with open(absolute, "rb") as handle:
                archive.writestr(entry, handle.read())
    return buffer.getvalue()
