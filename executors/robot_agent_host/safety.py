"""The safety stop: running the project's stop hooks, whatever its calls are doing."""

import inspect
import threading
import time

from .frames import encode
from .report import format_seconds, log, safe_repr, safe_str

# A safety stop must answer even when a hook hangs, so each hook gets this long.
STOP_HOOK_TIMEOUT = 10.0


class SafetyStop:
    """Answers ``safety_stop`` requests by running the stop hooks on a thread of their own.

    The hooks are the module's ``stop()`` and the ``stop()`` of each object calls have
    used, in that order; each must finish within STOP_HOOK_TIMEOUT.
    """

    def __init__(self, writer, project, loops):
        self._writer = writer
        self._project = project
        self._loops = loops

    def on_safety_stop(self, message):
        request_id = message.get("id")
        if type(request_id) is not int:
            log(f"ignoring safety_stop with id {safe_repr(request_id)}: it must be an integer")
            return
        threading.Thread(
            target=self._run, args=(request_id,), name="safety-stop", daemon=True
        ).start()

    def _hooks(self):
        """(label, hook) of every stop hook, in the order they run."""
        hooks = []
        stop = getattr(self._project.module, "stop", None)
        if callable(stop):
            hooks.append(("stop", stop))
        for name, target in list(self._project.targets.items()):
            try:
                hook = getattr(target, "stop", None)
            except Exception:
                hook = None
            if callable(hook):
                hooks.append((name + ".stop", hook))
        return hooks

    def _run(self, request_id):
        ran = []
        errors = []
        for label, hook in self._hooks():
            try:
                finished = self._run_hook(hook)
            except BaseException as exc:
                errors.append(f"{label}: {type(exc).__name__}: {safe_str(exc)}")
            else:
                if finished:
                    ran.append(label)
                else:
                    errors.append(
                        f"{label}: did not finish within {format_seconds(STOP_HOOK_TIMEOUT)} s"
                    )
        result = {"ran": ran, "errors": errors}
        self._writer.send(encode({"t": "result", "id": request_id, "ok": True, "result": result}))

    def _run_hook(self, hook):
        """Runs one stop hook; returns whether it finished in time, raises what it raised."""
        deadline = time.monotonic() + STOP_HOOK_TIMEOUT
        if inspect.iscoroutinefunction(hook):
            result = hook()
        else:
            # A thread of its own: the pool may be full of the very calls being stopped, and
            # a hook that hangs must not keep the later hooks from running.
            outcome = []
            thread = threading.Thread(
                target=_call_hook, args=(hook, outcome), name="safety-stop", daemon=True
            )
            thread.start()
            thread.join(STOP_HOOK_TIMEOUT)
            if not outcome:
                return False
            result, error = outcome[0]
            if error is not None:
                raise error
        if not inspect.isawaitable(result):
            return True
        finished, _ = self._loops.get().wait(result, max(0.0, deadline - time.monotonic()))
        return finished


def _call_hook(hook, outcome):
    try:
        outcome.append((hook(), None))
    except BaseException as exc:
        outcome.append((None, exc))
