"""What the project may read and write: its grants, never the agent's storage or its own
stored version."""

import os
import shutil
import tempfile
import unittest

from .support import SANDBOX_USER, Storage, launch, needs_root

# Tries each path and reports what happened: "ok", or the error's name.
TRIES = """
import os
def attempt(action, path):
    try:
        if action == "read":
            with open(path) as file:
                file.read()
        else:
            with open(path, "a") as file:
                file.write("x")
        return "ok"
    except OSError as exc:
        return type(exc).__name__
report({"uid": os.getuid(), "caps": [l.split()[1] for l in open("/proc/self/status")
                                      if l.startswith("CapEff")][0],
        "tries": {f"{a} {p}": attempt(a, p) for a, p in TRIES}})
"""


@needs_root
class FilesTest(unittest.TestCase):
    def setUp(self):
        self.storage = Storage()
        self.addCleanup(self.storage.remove)
        # A folder outside storage any user may read and write, so only Landlock says no.
        self.outside = tempfile.mkdtemp(prefix="sandbox-outside-")
        self.addCleanup(shutil.rmtree, self.outside, True)
        os.chmod(self.outside, 0o777)
        self.secret = os.path.join(self.outside, "map.txt")
        with open(self.secret, "w") as file:
            file.write("a map\n")
        os.chmod(self.secret, 0o666)

    def run_tries(self, tries, **fields):
        source = f"TRIES = {tries!r}\n" + TRIES
        result = launch(self.storage.spec(source, **fields))
        self.assertEqual(result.returncode, 0, result.stderr)
        return result, self.storage.result()

    def test_the_project_runs_as_the_sandbox_user_without_capabilities(self):
        result, seen = self.run_tries([])
        self.assertNotEqual(seen["uid"], 0)
        self.assertEqual(result.report["user"]["name"], SANDBOX_USER)
        self.assertEqual(int(seen["caps"], 16), 0)

    def test_reads_and_writes_outside_the_grants_are_refused(self):
        main = os.path.join(self.storage.version, "main.py")
        tries = [
            ("read", self.secret),
            ("write", os.path.join(self.outside, "new.txt")),
            ("read", os.path.join(self.storage.logs, "agent.log")),
            ("write", main),
            ("write", os.path.join(self.storage.data, "calibration.json")),
            ("write", os.path.join(self.storage.tmp, "scratch")),
            ("read", "/etc/hostname"),
        ]
        _, seen = self.run_tries(tries)
        self.assertEqual(seen["tries"], {
            f"read {self.secret}": "PermissionError",
            f"write {self.outside}/new.txt": "PermissionError",
            # Hidden: the storage the project sees holds its own folders alone.
            f"read {self.storage.logs}/agent.log": "FileNotFoundError",
            f"write {main}": "PermissionError",
            f"write {self.storage.data}/calibration.json": "ok",
            f"write {self.storage.tmp}/scratch": "ok",
            "read /etc/hostname": "ok",
        })

    def test_granted_paths_are_readable_and_writable(self):
        tries = [("read", self.secret), ("write", os.path.join(self.outside, "new.txt"))]
        _, seen = self.run_tries(tries, read=[self.secret], write=[self.outside])
        self.assertEqual(set(seen["tries"].values()), {"ok"})

    def test_without_a_storage_view_unix_permissions_keep_the_agent_s_files(self):
        log = os.path.join(self.storage.logs, "agent.log")
        os.chmod(self.storage.logs, 0o700)
        tries = [("read", log), ("write", os.path.join(self.storage.data, "x"))]
        result, seen = self.run_tries(tries, pretend_missing=["view", "landlock"])
        self.assertEqual(seen["tries"], {f"read {log}": "PermissionError",
                                         f"write {self.storage.data}/x": "ok"})
        self.assertTrue(
            any(m.startswith("private storage view (sandbox.pretend_missing)")
                for m in result.report["missing"]),
            result.report["missing"],
        )

    def test_the_temp_folder_is_emptied_and_the_data_folder_kept(self):
        self.run_tries([("write", os.path.join(self.storage.data, "kept")),
                        ("write", os.path.join(self.storage.tmp, "gone"))])
        self.run_tries([])
        self.assertTrue(os.path.exists(os.path.join(self.storage.data, "kept")))
        self.assertFalse(os.path.exists(os.path.join(self.storage.tmp, "gone")))

    def test_a_data_folder_that_is_a_link_is_refused(self):
        os.makedirs(os.path.dirname(self.storage.data), exist_ok=True)
        os.symlink(self.storage.logs, self.storage.data)
        result = launch(self.storage.spec("report(1)"))
        self.assertEqual(result.returncode, 127)
        self.assertIn("is not a folder", result.error)
        self.assertEqual(os.stat(self.storage.logs).st_uid, 0, "the link's target was chowned")


if __name__ == "__main__":
    unittest.main()
