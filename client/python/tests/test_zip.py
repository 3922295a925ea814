"""The folder zipping rules, stdlib only: runs on the robot's Python 3.8 too, where
``websockets`` may be missing, by loading ``_zip.py`` on its own."""

import importlib.util
import io
import os
import shutil
import tempfile
import unittest
import zipfile

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "robot_agent_client", "_zip.py")
_SPEC = importlib.util.spec_from_file_location("robot_agent_client_zip", _PATH)
_zip = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_zip)


class IgnoreRulesTest(unittest.TestCase):
    def test_rules_follow_gitignore(self):
        rules = _zip.parse_ignore("# c\n*.log\n/build\ndata/\ndocs/*.md\n**/tmp/**\n!keep.log\n")
        cases = [
            ("a.log", False, True),
            ("deep/b.log", False, True),
            ("keep.log", False, False),
            ("build", True, True),
            ("src/build", True, False),
            ("data", True, True),
            ("data", False, False),
            ("docs/a.md", False, True),
            ("docs/sub/a.md", False, False),
            ("a/tmp/b/c.py", False, True),
            ("main.py", False, False),
        ]
        for path, is_folder, expected in cases:
            self.assertEqual(_zip.is_ignored(path, is_folder, rules), expected, path)


class ZipFolderTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="robot-agent-zip-test-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, path, text, mode=0o644):
        full = os.path.join(self.dir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
        os.chmod(full, mode)

    def test_leaves_out_built_in_and_robotignore_paths_and_keeps_modes(self):
        self.write("main.py", "x = 1\n")
        self.write("bin/tool", "#!/bin/sh\n", 0o755)
        self.write("__pycache__/main.cpython-38.pyc", "c")
        self.write("pkg/a.pyc", "c")
        self.write(".git/HEAD", "ref")
        self.write("logs/run.log", "l")
        self.write(".robotignore", "logs/\n")
        with zipfile.ZipFile(io.BytesIO(_zip.zip_folder(self.dir))) as archive:
            infos = {info.filename: info for info in archive.infolist()}
        self.assertEqual(sorted(infos), ["bin/tool", "main.py"])
        self.assertEqual((infos["bin/tool"].external_attr >> 16) & 0o777, 0o755)

    def test_refuses_a_folder_with_nothing_to_deploy(self):
        self.write("a.pyc", "c")
        with self.assertRaises(ValueError):
            _zip.zip_folder(self.dir)


if __name__ == "__main__":
    unittest.main()
