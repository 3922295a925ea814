"""codes.py lists every code the host sends, and the modules use it rather than literals."""

import ast
import os
import unittest

from robot_agent_host import codes, report

PACKAGE_DIR = os.path.dirname(os.path.abspath(codes.__file__))


def _package_modules():
    return sorted(
        os.path.join(PACKAGE_DIR, name) for name in os.listdir(PACKAGE_DIR)
        if name.endswith(".py")
    )


class CodesTest(unittest.TestCase):
    def test_error_codes_lists_every_error_code_constant_once(self):
        constants = {
            name for name, value in vars(codes).items()
            if isinstance(value, str) and name == value
        }
        self.assertEqual(len(set(codes.ERROR_CODES)), len(codes.ERROR_CODES))
        self.assertEqual(set(codes.ERROR_CODES), constants)
        self.assertIn("NOT_SERIALIZABLE", constants)

    def test_no_module_spells_an_error_code_as_a_string(self):
        for path in _package_modules():
            if os.path.basename(path) == "codes.py":
                continue
            with open(path, encoding="utf-8") as file:
                tree = ast.parse(file.read(), filename=path)
            literals = [
                node.lineno for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and node.value in codes.ERROR_CODES
            ]
            self.assertEqual(literals, [], f"{path} spells error codes on lines {literals}")


class HostFrameTest(unittest.TestCase):
    def test_every_module_of_the_package_is_a_host_frame(self):
        modules = _package_modules()
        self.assertGreater(len(modules), 10)
        for path in modules:
            self.assertTrue(report.is_host_frame(path), path)
        self.assertTrue(report.is_host_frame("<frozen importlib._bootstrap>"))

    def test_files_outside_the_package_are_not(self):
        beside = PACKAGE_DIR + "_tests" + os.sep + "support.py"
        for path in (beside, os.path.join(os.path.dirname(PACKAGE_DIR), "main.py"), "main.py"):
            self.assertFalse(report.is_host_frame(path), path)
