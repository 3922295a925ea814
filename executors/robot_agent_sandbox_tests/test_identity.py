"""Who the project runs as, and what the report says where a layer is missing: a kernel
without Landlock (a Go2's Linux 5.10), an agent that is not root, one with capabilities."""

import os
import shutil
import unittest

from .support import PROJECT_PYTHON, SANDBOX_USER, Storage, launch, needs_root

# The service unit's capabilities (cli/_service_unit.ts), given as ambient ones.
SERVICE_CAPS = "+setuid,+setgid,+kill,+sys_admin,+net_admin"
# Serves itself over 127.0.0.1: works only where the namespace's lo is up.
OWN_LOOPBACK = """
import socket
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
socket.create_connection(server.getsockname(), timeout=2).close()
report("ok")
"""
WHO = """
import os
report({"uid": os.getuid(), "caps": [l.split()[1] for l in open("/proc/self/status")
                                      if l.startswith("CapEff")][0]})
"""


def as_nobody(caps=None):
    """setpriv's arguments that run the launcher as nobody, with ambient ``caps``."""
    prefix = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
    if caps:
        prefix += ["--inh-caps", caps, "--ambient-caps", caps]
    return prefix


@needs_root
class IdentityTest(unittest.TestCase):
    def setUp(self):
        self.storage = Storage()
        self.addCleanup(self.storage.remove)

    def give_storage_to_nobody(self):
        """The storage is the agent's: nobody's, when nobody plays the agent."""
        self.storage.write_project("")
        for root, folders, files in os.walk(self.storage.path):
            for name in folders + files + [""]:
                shutil.chown(os.path.join(root, name), "nobody", "nogroup")

    def test_a_kernel_without_landlock_is_reported_and_the_rest_applies(self):
        result = launch(self.storage.spec(WHO, pretend_missing=["landlock"], net=False))
        self.assertEqual(result.returncode, 0, result.stderr)
        report = result.report
        self.assertIsNone(report["landlock_abi"])
        self.assertIn("landlock (kernel has none: sandbox.pretend_missing)", report["missing"])
        self.assertEqual(report["user"]["name"], SANDBOX_USER)
        self.assertEqual(report["net"], "loopback only (network namespace)")

    def test_an_agent_that_cannot_switch_users_will_not_run_projects_as_root(self):
        result = launch(self.storage.spec(WHO, pretend_missing=["user"]))
        self.assertEqual(result.returncode, 127)
        self.assertIn("the project would run as root", result.error)

    def test_allow_root_runs_the_project_as_root_and_says_so(self):
        result = launch(self.storage.spec(WHO, pretend_missing=["user"], allow_root=True))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.storage.result()["uid"], 0)
        self.assertIn("user switch (sandbox.pretend_missing)", result.report["missing"])

    @unittest.skipUnless(shutil.which("setpriv"), "needs setpriv")
    def test_an_agent_that_is_not_root_runs_the_project_as_itself(self):
        self.give_storage_to_nobody()
        result = launch(self.storage.spec(WHO), prefix=as_nobody(), interpreter=PROJECT_PYTHON)
        self.assertEqual(result.returncode, 0, result.stderr)
        report = result.report
        self.assertEqual(report["user"]["name"], "nobody")
        self.assertIn("user switch (agent not root)", report["missing"])
        self.assertTrue(any(m.startswith("private storage view (") for m in report["missing"]))
        self.assertGreater(report["landlock_abi"], 0)

    @unittest.skipUnless(shutil.which("setpriv"), "needs setpriv")
    def test_an_agent_with_the_service_capabilities_gives_net_false_its_own_loopback(self):
        self.give_storage_to_nobody()
        spec = self.storage.spec(OWN_LOOPBACK, net=False)
        result = launch(spec, prefix=as_nobody(SERVICE_CAPS), interpreter=PROJECT_PYTHON)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.report["net"], "loopback only (network namespace)")
        self.assertEqual(self.storage.result(), "ok")

    @unittest.skipUnless(shutil.which("setpriv"), "needs setpriv")
    def test_an_agent_with_the_service_capabilities_switches_and_drops_them(self):
        self.give_storage_to_nobody()
        result = launch(
            self.storage.spec(WHO), prefix=as_nobody(SERVICE_CAPS), interpreter=PROJECT_PYTHON
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        seen = self.storage.result()
        self.assertEqual(result.report["user"]["name"], SANDBOX_USER)
        self.assertNotIn(seen["uid"], (0, 65534))
        self.assertEqual(int(seen["caps"], 16), 0, "the ambient capabilities reached the project")


if __name__ == "__main__":
    unittest.main()
