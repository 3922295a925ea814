"""``net: false``: loopback of its own only, by a network namespace or Landlock's TCP rules."""

import socket
import unittest

from .support import Storage, launch, needs_root

# Connects to the test's listener, then serves itself over its own loopback.
CONNECTS = """
import socket
def attempt(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return "ok"
    except OSError as exc:
        return type(exc).__name__
def loopback():
    try:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        socket.create_connection(server.getsockname(), timeout=2).close()
        return "ok"
    except OSError as exc:
        return type(exc).__name__
report({"outside": attempt(PORT), "own loopback": loopback()})
"""


@needs_root
class NetworkTest(unittest.TestCase):
    def setUp(self):
        self.storage = Storage()
        self.addCleanup(self.storage.remove)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.addCleanup(self.listener.close)

    def run_project(self, **fields):
        port = self.listener.getsockname()[1]
        result = launch(self.storage.spec(f"PORT = {port}\n" + CONNECTS, **fields))
        self.assertEqual(result.returncode, 0, result.stderr)
        return result, self.storage.result()

    def test_net_true_reaches_the_host(self):
        result, seen = self.run_project(net=True)
        self.assertEqual(seen, {"outside": "ok", "own loopback": "ok"})
        self.assertEqual(result.report["net"], "allowed")

    def test_net_false_gets_a_network_namespace_with_loopback_only(self):
        result, seen = self.run_project(net=False)
        self.assertEqual(seen, {"outside": "ConnectionRefusedError", "own loopback": "ok"})
        self.assertEqual(result.report["net"], "loopback only (network namespace)")

    def test_net_false_without_namespaces_falls_back_to_landlock_tcp_rules(self):
        result, seen = self.run_project(net=False, pretend_missing=["netns"])
        self.assertEqual(seen, {"outside": "PermissionError", "own loopback": "PermissionError"})
        self.assertEqual(result.report["net"], "no TCP (landlock)")
        self.assertTrue(
            any("Landlock denies TCP only" in m for m in result.report["missing"]),
            result.report["missing"],
        )

    def test_net_false_with_neither_is_reported_missing(self):
        result, seen = self.run_project(net=False, pretend_missing=["netns", "landlock"])
        self.assertEqual(seen["outside"], "ok")
        self.assertEqual(result.report["net"], "allowed")
        self.assertTrue(any(m.startswith("net: false (") for m in result.report["missing"]))


if __name__ == "__main__":
    unittest.main()
