"""The spec: every field checked, defaults filled, the first bad field named."""

import json
import unittest

from robot_agent_sandbox.errors import LaunchError
from robot_agent_sandbox.spec import parse


class SpecTest(unittest.TestCase):
    def test_parse_fills_defaults(self):
        spec = parse(json.dumps({"argv": ["/bin/true"]}))
        self.assertEqual(spec.argv, ["/bin/true"])
        self.assertEqual(spec.user, "robot-agent-sandbox")
        self.assertFalse(spec.allow_root)
        self.assertTrue(spec.net)
        self.assertTrue(spec.run)
        self.assertEqual(spec.cgroup, "auto")
        self.assertEqual(spec.stop_signal, "SIGTERM")

    def test_parse_names_the_bad_field(self):
        cases = [
            ("[]", "not a JSON object"),
            ("{", "not JSON"),
            (json.dumps({}), "lacks 'argv'"),
            (json.dumps({"argv": []}), "'argv' must be a non-empty list"),
            (json.dumps({"argv": ["x"], "colour": 1}), "unknown fields: colour"),
            (json.dumps({"argv": ["x"], "net": "no"}), "'net' has the wrong type"),
            (json.dumps({"argv": ["x"], "stop_grace_s": True}), "'stop_grace_s' has the wrong"),
            (json.dumps({"argv": ["x"], "read": ["relative"]}), "'read' must list absolute"),
            (json.dumps({"argv": ["x"], "pretend_missing": ["x"]}), "unknown layers"),
            (json.dumps({"argv": ["x"], "stop_signal": "SIGNOPE"}), "not a signal"),
        ]
        for text, message in cases:
            with self.subTest(text=text):
                with self.assertRaises(LaunchError) as caught:
                    parse(text)
                self.assertIn(message, str(caught.exception))


if __name__ == "__main__":
    unittest.main()
