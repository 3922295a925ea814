"""Shutting the host down, by a message or by closing the socket."""

from .support import LONG, SYNC_SAMPLE, HostTestCase


class ShutdownTest(HostTestCase):
    def test_shutdown_cancels_in_flight_calls_and_exits_0(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep", {"seconds": LONG})
        host.call(2, "robot", "async_sleep", {"seconds": LONG})
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")
        host.send({"t": "shutdown"})
        for call_id in (1, 2):
            self.assertEqual(host.result(call_id)["error"]["code"], "CANCELLED")
        with self.assertRaises(EOFError):
            host.read_frame()
        self.assertEqual(host.wait(), 0)

    def test_closing_the_socket_exits_0(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep", {"seconds": LONG})
        host.conn.close()
        self.assertEqual(host.wait(), 0)

    def test_sync_project_shutdown_cancels_in_flight_calls_and_exits_0(self):
        host = self.start_ready({"main.py": SYNC_SAMPLE})
        host.call(1, "robot", "sleep", {"seconds": LONG})
        self.assertEqual(host.ok(2, "robot", "fast"), "fast")
        host.send({"t": "shutdown"})
        self.assertEqual(host.result(1)["error"]["code"], "CANCELLED")
        with self.assertRaises(EOFError):
            host.read_frame()
        self.assertEqual(host.wait(), 0)

    def test_sync_project_closing_the_socket_exits_0(self):
        host = self.start_ready({"main.py": SYNC_SAMPLE})
        host.call(1, "robot", "sleep", {"seconds": LONG})
        host.conn.close()
        self.assertEqual(host.wait(), 0)
