"""What a project's objects offer, described for clients: each public method's parameters
(name, kind, default, annotation and, where it maps, a JSON Schema), its return annotation,
whether it is async, and the first line of its docstring.

The agent checks call arguments against the schemas before a call reaches Python, and a
client builds forms and proxies from them. ``describe_objects`` gives the whole description
and a hash of it that changes with each deployed version's interface.
"""

import hashlib
import inspect
import json
import sys
import typing

_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional_only",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional_or_keyword",
    inspect.Parameter.VAR_POSITIONAL: "var_positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword_only",
    inspect.Parameter.VAR_KEYWORD: "var_keyword",
}
_SIMPLE = {
    int: {"type": "integer"},
    float: {"type": "number"},
    str: {"type": "string"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    list: {"type": "array"},
    tuple: {"type": "array"},
    dict: {"type": "object"},
}


def summary(obj):
    """The first paragraph of an object's docstring, on one line; None without one."""
    doc = inspect.getdoc(obj)
    if not doc:
        return None
    first = doc.strip().split("\n\n")[0]
    return " ".join(line.strip() for line in first.splitlines())


def annotation_text(annotation):
    """How an annotation reads in source: `int`, `List[float]`, `Optional[str]` (the same on
    every Python version: 3.8 prints Optional[int] as Union[int, NoneType])."""
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):
        return annotation
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union:
        present = [arg for arg in args if arg is not type(None)]
        if len(args) == 2 and len(present) == 1:
            return "Optional[%s]" % annotation_text(present[0])
        return "Union[%s]" % ", ".join(annotation_text(arg) for arg in args)
    if origin is typing.Literal:
        return "Literal[%s]" % ", ".join(repr(arg) for arg in args)
    if origin is not None:
        name = getattr(annotation, "_name", None) or getattr(origin, "__name__", str(origin))
        if not args:
            return name
        return "%s[%s]" % (name, ", ".join(annotation_text(arg) for arg in args))
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _union_schema(args):
    options = [schema_of(arg) for arg in args]
    if any(option is None for option in options):
        return None
    return {"anyOf": options}


def schema_of(annotation):
    """The JSON Schema an annotation maps to, or None when it maps to nothing checkable."""
    if annotation is inspect.Parameter.empty or annotation is typing.Any:
        return None
    if annotation is None:
        return {"type": "null"}
    if annotation in _SIMPLE:
        return dict(_SIMPLE[annotation])
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union:
        return _union_schema(args)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, set, frozenset):
        schema = {"type": "array"}
        if origin is list and len(args) == 1 and schema_of(args[0]) is not None:
            schema["items"] = schema_of(args[0])
        return schema
    if origin is dict:
        return {"type": "object"}
    return None


def _hints(function):
    """Resolved annotations (string ones included), or the raw ones when they do not resolve."""
    try:
        return typing.get_type_hints(function)
    except Exception:
        return getattr(function, "__annotations__", {}) or {}


def _json_default(value):
    """A default as JSON can carry it, or None with a note that it cannot."""
    try:
        json.dumps(value)
        return value, True
    except (TypeError, ValueError):
        return repr(value), False


def describe_parameter(parameter, hints):
    """One parameter: name, kind, whether required, default, annotation, schema."""
    annotation = hints.get(parameter.name, parameter.annotation)
    entry = {
        "name": parameter.name,
        "kind": _KINDS[parameter.kind],
        "required": parameter.default is inspect.Parameter.empty
        and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD),
        "annotation": annotation_text(annotation),
        "schema": schema_of(annotation),
    }
    if parameter.default is not inspect.Parameter.empty:
        default, exact = _json_default(parameter.default)
        entry["default"] = default
        if not exact:
            entry["default_repr"] = True
    return entry


def describe_callable(method):
    """A method's description; its parameters are empty when its signature is unknown."""
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return {"params": None, "returns": None, "async": False, "doc": summary(method)}
    hints = _hints(method)
    returns = hints.get("return", signature.return_annotation)
    return {
        "params": [describe_parameter(p, hints) for p in signature.parameters.values()],
        "returns": {"annotation": annotation_text(returns), "schema": schema_of(returns)},
        "async": inspect.iscoroutinefunction(method),
        "doc": summary(method),
    }


def describe_target(target, method_names):
    """An object's description: its docstring's summary and each named method's."""
    methods = {}
    for name in method_names:
        try:
            methods[name] = describe_callable(getattr(target, name))
            if isinstance(target, type) and _takes_self(target, name):
                # A class is called through its one instance: `self` is not an argument.
                methods[name]["params"] = (methods[name]["params"] or [None])[1:] or []
        except Exception as exc:
            methods[name] = {"params": None, "returns": None, "async": False, "doc": None,
                             "error": "%s: %s" % (type(exc).__name__, exc)}
    owner = target if isinstance(target, type) else type(target)
    return {"doc": summary(owner), "class": isinstance(target, type), "methods": methods}


def _takes_self(cls, name):
    """Whether a class attribute is a plain function (not a static or class method)."""
    try:
        raw = inspect.getattr_static(cls, name)
    except AttributeError:
        return False
    return inspect.isfunction(raw)


def describe_objects(targets):
    """{"objects": {name: description}, "hash": sha256 of them}; `targets` maps an object's
    name to (the object, its public method names)."""
    objects = {name: describe_target(target, names) for name, (target, names) in targets.items()}
    canonical = json.dumps(objects, sort_keys=True, separators=(",", ":"), default=repr)
    return {
        "objects": objects,
        "hash": hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        "python": "%d.%d" % sys.version_info[:2],
    }
