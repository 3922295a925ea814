"""How the host is started, and what a project's own module names cannot do to it."""

import os
import shutil
import subprocess
import sys
import tempfile

from .support import EXECUTORS, PACKAGE, HostTestCase

# Modules named like the package's own, each saying whose it is.
HOST_MODULE_NAMES = (
    "calls", "codes", "deadlines", "discovery", "frames", "host", "loop", "pool", "project",
    "report", "safety",
)
SHADOW_PROJECT = """
    import asyncio

    import calls, codes, deadlines, discovery, frames, host, loop, pool, project, report, safety

    MODULES = (
        calls, codes, deadlines, discovery, frames, host, loop, pool, project, report, safety
    )


    class Probe:
        def owners(self):
            return [module.OWNER for module in MODULES]

        async def async_owners(self):
            await asyncio.sleep(0)
            return self.owners()

        def stop(self):
            pass
"""


def _shadow_files():
    files = {name + ".py": f"OWNER = 'project {name}'\n" for name in HOST_MODULE_NAMES}
    files["main.py"] = SHADOW_PROJECT
    return files


class LaunchTest(HostTestCase):
    def test_project_modules_named_like_the_hosts_are_the_projects_own(self):
        host = self.start_ready(_shadow_files())
        expected = ["project " + name for name in HOST_MODULE_NAMES]
        self.assertEqual(host.ok(1, "Probe", "owners"), expected)
        self.assertEqual(host.ok(2, "Probe", "async_owners"), expected)
        host.send({"t": "safety_stop", "id": 3})
        self.assertEqual(host.result(3)["result"], {"ran": ["Probe.stop"], "errors": []})

    def test_project_modules_named_like_standard_ones_do_not_replace_the_hosts(self):
        names = ("argparse", "inspect", "json", "queue", "select", "signal", "socket", "types")
        files = {
            name + ".py": f"raise ImportError('the project\\'s {name}.py was imported')\n"
            for name in names
        }
        files["main.py"] = """
            class Probe:
                def fast(self):
                    return "fast"
        """
        host = self.start_ready(files)
        self.assertEqual(host.ok(1, "Probe", "fast"), "fast")

    def test_project_runs_in_its_own_folder(self):
        host = self.start_ready({"main.py": """
            import os

            class Probe:
                def cwd(self):
                    return os.getcwd()
        """})
        project = os.path.realpath(host.ok(1, "Probe", "cwd"))
        self.assertTrue(os.path.isfile(os.path.join(project, "main.py")), project)
        self.assertNotEqual(project, os.path.realpath(EXECUTORS))

    def test_host_with_its_folder_on_pythonpath_serves_calls(self):
        elsewhere = tempfile.mkdtemp(prefix="elsewhere-")
        self.addCleanup(shutil.rmtree, elsewhere, True)
        env = dict(os.environ, PYTHONPATH=EXECUTORS)
        host = self.start_ready(None, cwd=elsewhere, env=env)
        self.assertEqual(host.ok(1, "robot", "add", {"a": 2, "b": 3}), 5)

    def test_tracebacks_leave_out_every_module_of_the_host(self):
        host = self.start_ready({"main.py": """
            class Faults:
                def sync_fault(self):
                    raise ValueError("sync")

                async def async_fault(self):
                    raise ValueError("async")

            class Broken:
                def __init__(self):
                    raise ValueError("constructor")

                def ping(self):
                    return "pong"
        """})
        for call_id, (obj, method) in enumerate(
            (("Faults", "sync_fault"), ("Faults", "async_fault"), ("Broken", "ping"))
        ):
            error = host.error(call_id, obj, method)
            self.assertEqual(error["code"], "EXCEPTION")
            self.assertIn("main.py", error["traceback"])
            self.assertNotIn(PACKAGE, error["traceback"])

    def test_bad_arguments_exit_2(self):
        result = subprocess.run(
            [sys.executable, "-m", PACKAGE, "--socket", "x", "--project", ".", "--threads", "0"],
            cwd=EXECUTORS,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=10,
        )
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"must be at least 1, got 0", result.stderr)

    def test_unreachable_socket_exits_2(self):
        folder = tempfile.mkdtemp(prefix="host-")
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "nobody.sock")
        result = subprocess.run(
            [sys.executable, "-m", PACKAGE, "--socket", path, "--project", folder],
            cwd=EXECUTORS,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=10,
        )
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"Cannot connect to the agent: " + path.encode(), result.stderr)
