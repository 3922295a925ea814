"""The host's start: the ready frame, init(), and projects that fail to load."""

import sys

from .support import PACKAGE, HostTestCase


class ReadyTest(HostTestCase):
    def test_ready_lists_project_classes_and_instances_with_public_methods(self):
        host = self.start()
        event = host.read_frame()
        ready = host.read_frame()
        self.assertEqual(event, {"t": "event", "event": "hello", "data": {"from": "init"}})
        self.assertEqual(ready["t"], "ready")
        self.assertEqual(set(ready["objects"]), {"Counter", "Flaky", "robot"})
        self.assertEqual(ready["objects"]["Counter"], ["inc", "instances"])
        self.assertIn("add", ready["objects"]["robot"])
        self.assertIn("twice", ready["objects"]["robot"])
        self.assertNotIn("label", ready["objects"]["robot"])
        self.assertEqual(ready["pid"], host.process.pid)
        self.assertEqual(ready["python"], "%d.%d.%d" % sys.version_info[:3])

    def test_init_runs_before_ready(self):
        host = self.start_ready()
        self.assertTrue(host.ok(1, "robot", "init_ran"))

    def test_async_init_is_awaited(self):
        host = self.start_ready({"main.py": """
            import asyncio
            state = {}

            async def init():
                await asyncio.sleep(0.01)
                state["ready"] = True

            class Probe:
                def ready(self):
                    return state.get("ready", False)
        """})
        self.assertTrue(host.ok(1, "Probe", "ready"))

    def test_package_with_relative_import_loads_as_project(self):
        host = self.start_ready({
            "__init__.py": """
                from .helpers import twice

                class Calc:
                    def double(self, x):
                        return twice(x)

                    def module(self):
                        return __name__
            """,
            "helpers.py": """
                def twice(x):
                    return 2 * x
            """,
        })
        self.assertEqual(host.ok(1, "Calc", "double", {"x": 21}), 42)
        self.assertEqual(host.ok(2, "Calc", "module"), "project")

    def test_import_failure_sends_load_error_and_exits_1(self):
        host = self.start({"main.py": """
            def fail():
                raise RuntimeError("broken on import")

            fail()
        """})
        frame = host.ready()
        self.assertEqual(frame["t"], "load_error")
        error = frame["error"]
        self.assertEqual(error["code"], "START_FAILED")
        self.assertEqual(error["type"], "RuntimeError")
        self.assertEqual(error["message"], "broken on import")
        self.assertIn("in fail", error["traceback"])
        self.assertNotIn(PACKAGE, error["traceback"])
        self.assertEqual(host.wait(), 1)

    def test_init_failure_sends_load_error(self):
        host = self.start({"main.py": """
            def init():
                raise OSError("no robot")
        """})
        frame = host.ready()
        self.assertEqual((frame["t"], frame["error"]["type"]), ("load_error", "OSError"))
        self.assertEqual(host.wait(), 1)

    def test_folder_without_project_sends_load_error(self):
        host = self.start({"readme.txt": "nothing to run"})
        frame = host.ready()
        self.assertEqual(frame["error"]["type"], "FileNotFoundError")
        self.assertIn("neither main.py nor __init__.py", frame["error"]["message"])
        self.assertEqual(host.wait(), 1)

    def test_ready_reports_what_the_projects_ready_returned(self):
        cases = [
            ("def ready():\n    return {'arm': 'ok'}\n", True),
            ("def ready():\n    return 0\n", False),
            ("x = 1\n", None),
            ("import asyncio\n\nasync def ready():\n    await asyncio.sleep(0)\n    return True\n",
             True),
        ]
        for source, expected in cases:
            with self.subTest(source=source):
                host = self.start({"main.py": source})
                frame = host.ready()
                self.assertEqual(frame["t"], "ready", frame)
                self.assertIs(frame["ready"], expected)

    def test_ready_runs_after_init(self):
        host = self.start_ready({"main.py": """
            state = []

            def init():
                state.append("init")

            def ready():
                state.append("ready")
                return True

            class Probe:
                def order(self):
                    return state
        """})
        self.assertEqual(host.ok(1, "Probe", "order"), ["init", "ready"])

    def test_load_error_names_the_project_file_and_line(self):
        cases = {
            "SyntaxError": ({"main.py": "x = 1\ndef broken(:\n    pass\n"}, "main.py", 2),
            "ModuleNotFoundError": (
                {"main.py": "import os\nimport no_such_module_here\n"},
                "main.py",
                2,
            ),
            "ValueError": (
                {"main.py": "import helpers\n\ndef init():\n    helpers.setup()\n",
                 "helpers.py": "def setup():\n    raise ValueError('no arm')\n"},
                "helpers.py",
                2,
            ),
            "RuntimeError": (
                {"main.py": "def ready():\n    raise RuntimeError('not calibrated')\n"},
                "main.py",
                2,
            ),
        }
        for kind, (files, file, line) in cases.items():
            with self.subTest(kind=kind):
                host = self.start(files)
                error = host.ready()["error"]
                self.assertEqual(error["type"], kind)
                self.assertEqual((error["file"], error["line"]), (file, line))
                self.assertIn(file, error["traceback"])
                self.assertEqual(host.wait(), 1)

    def test_load_error_outside_the_project_files_has_no_location(self):
        host = self.start({"readme.txt": "nothing to run"})
        error = host.ready()["error"]
        self.assertEqual((error["file"], error["line"]), (None, None))
