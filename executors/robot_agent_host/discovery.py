"""Which of a project's globals calls may target, and which of their methods.

A call may target a project class (instantiated once, on first use) or an instance of a
class that is not Python's own; it may call public methods, i.e. callables whose name
does not start with an underscore.
"""

import inspect
import os
import sys
import types

# The folder of os.py is the standard library's; sysconfig would tell the same but load
# the interpreter's whole build configuration to do it.
_STDLIB_DIR = os.path.dirname(os.path.realpath(os.__file__)) + os.sep
_NOT_OBJECTS = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
)
_stdlib_modules = {}


def is_stdlib(module_name):
    """Whether a module belongs to Python itself rather than to the project or a package."""
    top = module_name.partition(".")[0]
    known = _stdlib_modules.get(top)
    if known is None:
        path = getattr(sys.modules.get(top), "__file__", None)
        if top in sys.builtin_module_names or path is None:
            known = True
        else:
            path = os.path.realpath(path)
            known = path.startswith(_STDLIB_DIR) and os.sep + "site-packages" not in path
        _stdlib_modules[top] = known
    return known


def is_instance_object(value):
    """Whether a module global is an instance the agent may call methods on."""
    if isinstance(value, _NOT_OBJECTS):
        return False
    module_name = type(value).__module__
    return isinstance(module_name, str) and not is_stdlib(module_name)


def _is_public_method(owner, name):
    if name.startswith("_"):
        return False
    try:
        raw = inspect.getattr_static(owner, name)
    except AttributeError:
        # Provided by __getattr__ (proxies, RPC stubs): only a real lookup can tell.
        raw = getattr(owner, name, None)
    if isinstance(raw, (staticmethod, classmethod)):
        return True
    return callable(raw) and not isinstance(raw, type)


def public_methods(owner):
    return [name for name in dir(owner) if _is_public_method(owner, name)]


def is_async_method(owner, name):
    try:
        return inspect.iscoroutinefunction(getattr(owner, name))
    except Exception:
        return False


def describe_method(target, name):
    """(method, arguments check or None, is_async) for a public method of target, else None."""
    if not isinstance(name, str) or not _is_public_method(target, name):
        return None
    method = getattr(target, name)
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        signature = None
    args_check = ArgsCheck(signature) if signature else None
    return method, args_check, inspect.iscoroutinefunction(method)


class ArgsCheck:
    """Whether keyword arguments fit a signature, in a few set operations for the usual case.

    Signature.bind() is pure Python and costs more than a short robot command; it runs only
    when the quick test fails, to accept what the quick test cannot judge or to word the error.
    """

    __slots__ = ("_signature", "_names", "_required", "_any_name")

    def __init__(self, signature):
        self._signature = signature
        kinds = inspect.Parameter
        names = set()
        required = set()
        quick = True
        self._any_name = False
        for parameter in signature.parameters.values():
            if parameter.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY):
                names.add(parameter.name)
                if parameter.default is parameter.empty:
                    required.add(parameter.name)
            elif parameter.kind == kinds.VAR_KEYWORD:
                self._any_name = True
            elif parameter.kind == kinds.POSITIONAL_ONLY:
                # A name that is also a positional-only parameter's: leave it to bind().
                quick = False
        self._names = frozenset(names) if quick else None
        self._required = frozenset(required)

    def check(self, args):
        """Raises TypeError, worded by Signature.bind(), when args do not fit."""
        names = self._names
        if names is not None and self._required.issubset(args) and (
            self._any_name or names.issuperset(args)
        ):
            return
        self._signature.bind(**args)
