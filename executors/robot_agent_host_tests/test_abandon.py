"""Abandoned calls, whose answer went out while their thread still ran project code."""

from .support import LONG, HostTestCase


class AbandonTest(HostTestCase):
    """Calls answered while their thread still runs project code, and the status request."""

    def test_sync_call_blocked_in_c_is_abandoned_then_settled(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep", {"seconds": 1.5}, timeout=0.2)
        reply = host.expect(lambda f: f.get("id") == 1)
        self.assertEqual(reply["t"], "result")
        self.assertEqual((reply["error"]["code"], reply["error"]["abandoned"]), ("TIMEOUT", True))
        self.assertEqual(host.status(2)["abandoned"], [1])
        self.assertEqual(host.settled(1), {"t": "settled", "id": 1})
        self.assertEqual(host.status(3)["abandoned"], [])

    def test_busy_python_loop_is_interrupted_and_settles(self):
        host = self.start_ready()
        host.call(1, "robot", "spin", {"seconds": LONG}, timeout=0.2)
        error = host.result(1)["error"]
        self.assertEqual((error["code"], error["abandoned"]), ("TIMEOUT", True))
        # The loop would run for LONG seconds; settling within WAIT proves the interrupt.
        host.settled(1)
        status = host.status(2)
        self.assertEqual((status["in_flight"], status["abandoned"]), (0, []))

    def test_cancelled_sync_call_is_abandoned_then_settled(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep_in_steps", {"seconds": LONG})
        self.assertEqual(host.ok(2, "robot", "fast"), "fast")
        host.send({"t": "cancel", "id": 1})
        error = host.result(1)["error"]
        self.assertEqual((error["code"], error["abandoned"]), ("CANCELLED", True))
        host.settled(1)
        self.assertEqual(host.ok(3, "robot", "was_interrupted"), "_CallInterrupted")

    def test_async_call_and_queued_sync_call_are_not_abandoned(self):
        host = self.start_ready(None, "--threads", "1")
        host.call(1, "robot", "async_sleep", {"seconds": LONG}, timeout=0.2)
        error = host.result(1)["error"]
        self.assertEqual((error["code"], error["abandoned"]), ("TIMEOUT", False))
        self.assertTrue(host.ok(2, "robot", "async_was_cancelled"))
        host.call(3, "robot", "sleep_in_steps", {"seconds": LONG})
        host.call(4, "robot", "fast")
        host.send({"t": "cancel", "id": 4})
        error = host.result(4)["error"]
        self.assertEqual((error["code"], error["abandoned"]), ("CANCELLED", False))
        host.send({"t": "cancel", "id": 3})
        host.settled(3)
        self.assertEqual(host.ok(5, "robot", "fast"), "fast")
        self.assertEqual([f for f in host.pending if f["t"] == "settled"], [])

    def test_constructor_blocked_in_c_is_abandoned_then_settled(self):
        host = self.start_ready({"main.py": """
            import time

            class Slow:
                def __init__(self):
                    time.sleep(1.5)

                def ping(self):
                    return "pong"
        """})
        host.call(1, "Slow", "ping", timeout=0.2)
        error = host.result(1)["error"]
        self.assertEqual((error["code"], error["abandoned"]), ("TIMEOUT", True))
        self.assertEqual(host.status(2)["abandoned"], [1])
        host.settled(1)
        self.assertEqual(host.ok(3, "Slow", "ping"), "pong")

    def test_status_counts_calls_in_flight_and_threads(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep_in_steps", {"seconds": LONG})
        host.call(2, "robot", "async_sleep", {"seconds": LONG})
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")
        status = host.status(4)
        self.assertEqual((status["in_flight"], status["abandoned"]), (2, []))
        # The event loop's thread and at least the pool thread running call 1.
        self.assertGreaterEqual(status["threads"], 2)
        for call_id in (1, 2):
            host.send({"t": "cancel", "id": call_id})
        self.assertEqual(host.result(2)["error"]["abandoned"], False)
        host.settled(1)
        self.assertEqual(host.status(5)["in_flight"], 0)
