"""The deployed project: importing it, and the objects its calls go to."""

import importlib.util
import inspect
import os
import sys
import threading

from .discovery import is_async_method, is_instance_object, public_methods
from .report import log


class Project:
    """Loads the project's module once and finds the objects calls may target.

    ``targets`` maps a name to the object its calls go to: a module-level instance, or a
    project class's one instance once made. ``methods`` caches describe_method() by
    (object name, method name). Both are read without a lock: a dict's get and set are
    atomic, and an entry, once set, never changes.
    """

    def __init__(self, directory):
        self.directory = os.path.abspath(directory)
        self.module = None
        self.targets = {}
        self.methods = {}
        self._instantiate_lock = threading.Lock()

    def load(self, push_message, loops):
        """Imports the project on this thread, then runs its init() (awaited on loops' loop
        if it is async); raises what they raised."""
        directory = self.directory
        sys.path.insert(0, directory)
        main_path = os.path.join(directory, "main.py")
        package_path = os.path.join(directory, "__init__.py")
        if os.path.isfile(main_path):
            spec = importlib.util.spec_from_file_location("main", main_path)
        elif os.path.isfile(package_path):
            spec = importlib.util.spec_from_file_location(
                "project", package_path, submodule_search_locations=[directory]
            )
        else:
            raise FileNotFoundError(
                f"Cannot load project: {directory} holds neither main.py nor __init__.py"
            )
        # The agent starts the host in the folder of this package (see __init__.py); the
        # project runs in its own.
        os.chdir(directory)
        module = importlib.util.module_from_spec(spec)
        module.push_message = push_message
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        init = getattr(module, "init", None)
        if callable(init):
            result = init()
            if inspect.isawaitable(result):
                loops.get().run_here(result)
        self.module = module

    def ready(self, loops):
        """Whether the project's optional ready() returned a true value (awaited if async),
        or None when it has none; raises what it raised. Runs after load(), on this thread."""
        ready = getattr(self.module, "ready", None)
        if not callable(ready):
            return None
        result = ready()
        if inspect.isawaitable(result):
            result = loops.get().run_here(result)
        return bool(result)

    def describe(self):
        """({object name: [public method names]}, whether any of those methods is async)."""
        objects = {}
        has_async_methods = False
        for name in list(vars(self.module)):
            value = self.find_object(name)
            if value is not None:
                methods = objects[name] = public_methods(value)
                if not has_async_methods:
                    has_async_methods = any(is_async_method(value, m) for m in methods)
        return objects, has_async_methods

    def descriptions(self, objects):
        """What each of `objects` ({name: method names}) offers, for `describe`; None when
        describing fails (it never stops a start: calls are then checked in Python only)."""
        from .describe import describe_objects

        try:
            return describe_objects(
                {name: (self.find_object(name), methods) for name, methods in objects.items()}
            )
        except Exception as exc:
            log(f"cannot describe the project's objects: {type(exc).__name__}: {exc}")
            return None

    def find_object(self, name):
        """The module global a call may target: a project class or an instance."""
        if not isinstance(name, str) or name.startswith("_"):
            return None
        value = getattr(self.module, name, None)
        if isinstance(value, type):
            return value if self._is_project_class(value) else None
        return value if is_instance_object(value) else None

    def _is_project_class(self, cls):
        module_name = cls.__module__
        root = self.module.__name__
        if module_name == root or str(module_name).startswith(root + "."):
            return True
        path = getattr(sys.modules.get(module_name), "__file__", None)
        return isinstance(path, str) and os.path.abspath(path).startswith(
            self.directory + os.sep
        )

    def instantiate(self, name, cls):
        """Creates the one shared instance of a project class; returns (instance, error)."""
        try:
            with self._instantiate_lock:
                instance = self.targets.get(name)
                if instance is None:
                    instance = cls()
                    self.targets[name] = instance
                return instance, None
        except BaseException as exc:
            return None, exc
