"""Limits: memory, processes and open files, each refused past its limit."""

import unittest

from .support import Storage, launch, needs_root

TRIES = """
import os, time
def memory(mib):
    try:
        block = bytearray(mib * 1024 * 1024)
        return "ok"
    except MemoryError:
        return "MemoryError"
def processes(count):
    children = []
    try:
        for _ in range(count):
            pid = os.fork()
            if pid == 0:
                time.sleep(5)
                os._exit(0)
            children.append(pid)
        return "ok"
    except OSError as exc:
        return type(exc).__name__
    finally:
        for pid in children:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
def files(count):
    opened = []
    try:
        for _ in range(count):
            opened.append(open("/dev/null"))
        return "ok"
    except OSError as exc:
        return type(exc).__name__
    finally:
        for file in opened:
            file.close()
report({"memory": memory(400), "processes": processes(40), "files": files(100)})
"""


@needs_root
class LimitsTest(unittest.TestCase):
    def setUp(self):
        self.storage = Storage()
        self.addCleanup(self.storage.remove)

    def run_project(self, limits):
        result = launch(self.storage.spec(TRIES, limits=limits))
        self.assertEqual(result.returncode, 0, result.stderr)
        return result, self.storage.result()

    def test_each_limit_refuses_what_goes_past_it(self):
        result, seen = self.run_project({"memory_mb": 200, "processes": 20, "open_files": 50})
        self.assertEqual(seen, {
            "memory": "MemoryError",
            "processes": "BlockingIOError",
            "files": "OSError",
        })
        self.assertEqual(result.report["limits"]["memory_mb"], 200)
        self.assertEqual(result.report["limits"]["processes"], 20)

    def test_the_same_project_within_its_limits_succeeds(self):
        _, seen = self.run_project({"memory_mb": 1024, "processes": 200, "open_files": 500})
        self.assertEqual(seen, {"memory": "ok", "processes": "ok", "files": "ok"})


if __name__ == "__main__":
    unittest.main()
