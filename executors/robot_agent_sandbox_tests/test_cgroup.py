"""cgroup v2: the project's own cgroup in a delegated one, killed whole and removed."""

import os
import tempfile
import unittest

from robot_agent_sandbox.cgroup import _cgroup2_mount

from .support import Storage, is_alive, kill_pid, launch, needs_root

MOUNT = _cgroup2_mount()

LEAVES_A_DAEMON = """
import os, time
read, write = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(write, str(os.getpid()).encode())
        time.sleep(70)
    os._exit(0)
report({"daemon": int(os.read(read, 32)), "cgroup": open("/proc/self/cgroup").read()})
"""


@needs_root
@unittest.skipUnless(MOUNT and os.access(MOUNT, os.W_OK), "needs a writable cgroup v2 mount")
class CgroupTest(unittest.TestCase):
    def setUp(self):
        self.storage = Storage()
        self.addCleanup(self.storage.remove)
        # Stands in for the service's delegated cgroup.
        self.base = tempfile.mkdtemp(prefix="robot-agent-test-", dir=MOUNT)
        self.addCleanup(os.rmdir, self.base)

    def test_the_project_runs_in_its_own_cgroup_which_is_killed_and_removed(self):
        result = launch(self.storage.spec(LEAVES_A_DAEMON, cgroup=self.base,
                                          limits={"memory_mb": 512, "processes": 4096}))
        self.assertEqual(result.returncode, 0, result.stderr)
        seen = self.storage.result()
        self.addCleanup(kill_pid, seen["daemon"])
        cgroup = result.report["cgroup"]
        self.assertTrue(cgroup.startswith(self.base + "/project-"), cgroup)
        self.assertIn("0::" + cgroup[len(MOUNT):], seen["cgroup"])
        self.assertFalse(is_alive(seen["daemon"]))
        self.assertFalse(os.path.exists(cgroup), "the project's cgroup was left behind")
        with open(os.path.join(self.base, "cgroup.controllers")) as file:
            controllers = file.read().split()
        for name, control in (("memory", "memory.max"), ("pids", "pids.max")):
            missing = [m for m in result.report["missing"] if m.startswith(f"cgroup {control}")]
            self.assertEqual(bool(missing), name not in controllers, result.report["missing"])


if __name__ == "__main__":
    unittest.main()
