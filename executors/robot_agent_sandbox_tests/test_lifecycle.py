"""The launcher's own process: the project's exit is its exit, and nothing outlives it."""

import os
import signal
import unittest

from .support import (
    Storage,
    is_alive,
    kill_pid,
    launch,
    needs_root,
    result_is,
    stop_now,
    wait_for,
)

# Leaves a double-forked daemon and a plain child behind, reports their pids, then waits.
LEAVES_PROCESSES = """
import os, subprocess, time
child = subprocess.Popen(["sleep", "70"])
read, write = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(write, str(os.getpid()).encode())
        time.sleep(70)
    os._exit(0)
daemon = int(os.read(read, 32))
report({"child": child.pid, "daemon": daemon})
time.sleep(70)
"""


@needs_root
class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.storage = Storage()
        self.addCleanup(self.storage.remove)

    def test_exit_code_is_the_projects(self):
        result = launch(self.storage.spec("raise SystemExit(3)"))
        self.assertIsNotNone(result.report, result.stderr)
        self.assertEqual(result.returncode, 3)

    def test_death_by_signal_is_the_launchers(self):
        source = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
        result = launch(self.storage.spec(source))
        self.assertEqual(result.returncode, -signal.SIGTERM)

    def test_a_program_that_cannot_run_is_a_launch_error(self):
        spec = self.storage.spec("")
        spec["argv"] = ["/no/such/program"]
        spec["exec_hint"] = "set it right"
        result = launch(spec)
        self.assertEqual(result.returncode, 127)
        self.assertRegex(result.error, r"^cannot run /no/such/program: .* \(set it right\)$")

    def test_stop_ends_the_daemon_and_the_child_it_left(self):
        pids = {}

        def stop_once_reported(process):
            wait_for(lambda: os.path.exists(os.path.join(self.storage.data, "result.json")), "pids")
            pids.update(self.storage.result())
            for pid in pids.values():
                self.addCleanup(kill_pid, pid)
                self.assertTrue(is_alive(pid), pid)
            process.stdin.write(b"stop\n")
            process.stdin.flush()

        result = launch(self.storage.spec(LEAVES_PROCESSES), control=stop_once_reported)
        self.assertEqual(result.returncode, -signal.SIGTERM)
        for name, pid in pids.items():
            self.assertFalse(is_alive(pid), f"the {name} (pid {pid}) outlived the project")

    def test_exit_ends_what_the_project_left_holding_its_output(self):
        # The main process exits at once; the sleep keeps stdout and stderr open.
        source = """
        import subprocess
        child = subprocess.Popen(["sleep", "70"])
        report({"child": child.pid})
        """
        result = launch(self.storage.spec(source))
        self.assertEqual(result.returncode, 0, result.stderr)
        child = self.storage.result()["child"]
        self.addCleanup(kill_pid, child)
        self.assertFalse(is_alive(child), "the child outlived the project's exit")

    def test_closing_the_control_pipe_stops_the_project(self):
        result = launch(self.storage.spec("import time; time.sleep(70)"), control=stop_now)
        self.assertEqual(result.returncode, -signal.SIGTERM)

    def test_kill_and_signal_lines_reach_the_main_process(self):
        source = """
        import signal, time
        signal.signal(signal.SIGUSR1, lambda *_: report("usr1"))
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        report("ready")
        while True:
            time.sleep(0.01)
        """

        def signal_then_kill(process):
            wait_for(lambda: result_is(self.storage, "ready"), "the project to be ready")
            process.stdin.write(b"signal SIGUSR1\n")
            process.stdin.flush()
            wait_for(lambda: result_is(self.storage, "usr1"), "SIGUSR1 to arrive")
            process.stdin.write(b"kill\n")
            process.stdin.flush()

        result = launch(self.storage.spec(source), control=signal_then_kill)
        self.assertEqual(self.storage.result(), "usr1")
        self.assertEqual(result.returncode, -signal.SIGKILL)


if __name__ == "__main__":
    unittest.main()
