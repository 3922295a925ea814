"""Calls: results, argument checks, errors, timeouts, the pool and cancels."""

import textwrap

from .support import LONG, PACKAGE, SYNC_SAMPLE, HostTestCase, encode


class CallTest(HostTestCase):
    def test_sync_call_returns_result(self):
        host = self.start_ready()
        self.assertEqual(host.ok(1, "robot", "add", {"a": 2, "b": 3}), 5)
        text = "h\u00e9llo \u2713"
        self.assertEqual(host.ok(2, "robot", "echo", {"value": text}), text)

    def test_async_call_returns_result(self):
        host = self.start_ready()
        self.assertEqual(host.ok(1, "robot", "twice", {"x": 21}), 42)

    def test_class_is_instantiated_once_and_reused(self):
        host = self.start_ready()
        self.assertEqual(host.ok(1, "Counter", "inc"), 1)
        self.assertEqual(host.ok(2, "Counter", "inc", {"by": 5}), 6)
        self.assertEqual(host.ok(3, "Counter", "instances"), 1)

    def test_concurrent_first_calls_share_one_instance(self):
        host = self.start_ready()
        for call_id in range(1, 6):
            host.call(call_id, "Counter", "inc")
        results = sorted(host.result(call_id)["result"] for call_id in range(1, 6))
        self.assertEqual(results, [1, 2, 3, 4, 5])
        self.assertEqual(host.ok(6, "Counter", "instances"), 1)

    def test_arguments_that_do_not_fit_are_bad_args(self):
        host = self.start_ready()
        error = host.error(1, "robot", "add", {"a": 1})
        self.assertEqual(error["code"], "BAD_ARGS")
        self.assertEqual(
            error["message"], "Cannot call robot.add: missing a required argument: 'b'"
        )
        error = host.error(2, "robot", "add", {"a": 1, "b": 2, "c": 3})
        self.assertEqual(error["code"], "BAD_ARGS")
        self.assertIn("unexpected keyword argument 'c'", error["message"])
        self.assertEqual(host.error(3, "robot", "add", [1, 2])["code"], "BAD_ARGS")
        self.assertEqual(host.error(4, "robot", "fast", timeout=-1)["code"], "BAD_ARGS")

    def test_keyword_only_defaults_kwargs_and_positional_only_parameters(self):
        host = self.start_ready({"main.py": textwrap.dedent("""
            class Shapes:
                def keyword_only(self, a, *, b, c=3):
                    return [a, b, c]

                def any_names(self, a, **rest):
                    return [a, sorted(rest)]

                def positional_only(self, a, /, b=2):
                    return [a, b]
        """)})
        self.assertEqual(host.ok(1, "Shapes", "keyword_only", {"a": 1, "b": 2}), [1, 2, 3])
        error = host.error(2, "Shapes", "keyword_only", {"a": 1})
        self.assertEqual(error["code"], "BAD_ARGS")
        self.assertIn("missing a required argument: 'b'", error["message"])
        result = host.ok(3, "Shapes", "any_names", {"a": 1, "z": 0, "y": 0})
        self.assertEqual(result, [1, ["y", "z"]])
        self.assertEqual(host.error(4, "Shapes", "any_names", {"z": 0})["code"], "BAD_ARGS")
        # A positional-only parameter cannot be passed by name: the call's args are keywords.
        error = host.error(5, "Shapes", "positional_only", {"a": 1})
        self.assertEqual(error["code"], "BAD_ARGS")

    def test_unknown_object(self):
        host = self.start_ready()
        for call_id, name in enumerate(["nope", "_Robot", "helper", "pi", "names", "json"]):
            error = host.error(call_id, name, "add")
            self.assertEqual(error["code"], "UNKNOWN_OBJECT", name)
        self.assertEqual(
            error["message"], "Cannot call json.add: the project has no object 'json'"
        )

    def test_unknown_or_private_method(self):
        host = self.start_ready()
        for call_id, name in enumerate(["fly", "_hidden", "__init__", "created"]):
            self.assertEqual(host.error(call_id, "Counter", name)["code"], "UNKNOWN_METHOD")
        error = host.error(9, "robot", "label")
        self.assertEqual(error["code"], "UNKNOWN_METHOD")
        self.assertEqual(
            error["message"], "Cannot call robot.label: 'robot' has no public method 'label'"
        )

    def test_exception_reports_type_message_and_traceback(self):
        host = self.start_ready()
        error = host.error(1, "robot", "boom")
        self.assertEqual(error["code"], "EXCEPTION")
        self.assertEqual(error["type"], "ValueError")
        self.assertEqual(error["message"], "boom")
        self.assertIn("main.py", error["traceback"])
        self.assertIn("ValueError: boom", error["traceback"])
        self.assertNotIn(PACKAGE, error["traceback"])

    def test_system_exit_in_a_call_is_an_exception_not_an_exit(self):
        host = self.start_ready()
        self.assertEqual(host.error(1, "robot", "exit")["type"], "SystemExit")
        self.assertEqual(host.error(2, "robot", "async_exit")["type"], "SystemExit")
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")

    def test_sync_method_returning_a_coroutine_is_awaited(self):
        host = self.start_ready()
        self.assertEqual(host.ok(1, "robot", "returns_coroutine"), 6)

    def test_constructor_failure_is_an_exception_of_the_call(self):
        host = self.start_ready()
        error = host.error(1, "Flaky", "ping")
        self.assertEqual((error["code"], error["type"]), ("EXCEPTION", "ConnectionError"))
        self.assertIn("in __init__", error["traceback"])
        self.assertEqual(host.error(2, "Flaky", "ping")["message"], "robot unreachable")

    def test_malformed_messages_do_not_break_the_host(self):
        host = self.start_ready()
        host.send({"t": "dance"})
        host.send({"t": ["call"]})
        host.send({"t": "call", "id": "1", "object": "robot", "method": "fast"})
        host.send({"t": "cancel", "id": [1]})
        host.send({"t": "status", "id": None})
        self.assertEqual(host.error(1, 7, "fast")["code"], "UNKNOWN_OBJECT")
        self.assertEqual(host.error(2, "robot", ["fast"])["code"], "UNKNOWN_METHOD")
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")
        self.assertEqual([f for f in host.pending if f["t"] == "result"], [])

    def test_result_that_json_cannot_encode_is_not_serializable(self):
        host = self.start_ready()
        error = host.error(1, "robot", "bad_set")
        self.assertEqual(error["code"], "NOT_SERIALIZABLE")
        self.assertEqual(
            error["message"],
            "Cannot encode result of robot.bad_set as JSON: "
            "Object of type set is not JSON serializable",
        )
        self.assertEqual(host.error(2, "robot", "bad_nan")["code"], "NOT_SERIALIZABLE")
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")

    def test_result_over_the_frame_limit_is_not_serializable(self):
        host = self.start_ready(None, "--max-frame", "4096")
        self.assertEqual(len(host.ok(1, "robot", "big", {"size": 500})), 500)
        error = host.error(2, "robot", "big", {"size": 1000})
        self.assertEqual(error["code"], "NOT_SERIALIZABLE")
        self.assertIn("over the frame limit of 4096 bytes", error["message"])

    def test_call_over_its_timeout_times_out(self):
        host = self.start_ready()
        error = host.error(1, "robot", "sleep", {"seconds": LONG}, timeout=0.2)
        self.assertEqual(error["code"], "TIMEOUT")
        self.assertEqual(error["message"], "Call timed out: robot.sleep ran longer than 0.2 s")
        error = host.error(2, "robot", "async_sleep", {"seconds": LONG}, timeout=0.2)
        self.assertEqual(error["code"], "TIMEOUT")

    def test_default_call_timeout_applies(self):
        host = self.start_ready(None, "--call-timeout", "0.3")
        error = host.error(1, "robot", "sleep_in_steps", {"seconds": LONG})
        self.assertEqual(error["code"], "TIMEOUT")
        self.assertEqual(host.ok(2, "robot", "was_interrupted"), "_CallInterrupted")

    def test_slow_sync_call_does_not_block_a_fast_one(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep", {"seconds": LONG})
        self.assertEqual(host.ok(2, "robot", "fast"), "fast")
        self.assertEqual(host.ok(3, "robot", "twice", {"x": 1}), 2)


class SyncPoolTest(HostTestCase):
    """A project without async methods: its calls' pool starts threads only as needed."""

    def test_slow_sync_calls_do_not_block_fast_ones(self):
        host = self.start_ready({"main.py": SYNC_SAMPLE})
        host.call(1, "robot", "sleep", {"seconds": LONG})
        host.call(2, "robot", "sleep", {"seconds": LONG})
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")
        self.assertEqual(host.ok(4, "robot", "add", {"a": 1, "b": 2}), 3)

    def test_a_burst_of_short_calls_shares_few_threads(self):
        host = self.start_ready({"main.py": SYNC_SAMPLE})
        burst = b"".join(
            encode({"t": "call", "id": i, "object": "robot", "method": "fast", "args": {}})
            for i in range(2000)
        )
        host.conn.sendall(burst)
        for i in range(2000):
            self.assertEqual(host.result(i)["result"], "fast")
        # The reader and the deadline thread, and fewer call threads than the eight allowed:
        # eight short calls' threads would spend their time handing the GIL to each other.
        self.assertLess(host.status(9999)["threads"], 2 + 8)


class CancelTest(HostTestCase):
    def test_cancel_of_async_call_answers_at_once_and_cancels_the_task(self):
        host = self.start_ready()
        host.call(1, "robot", "async_sleep", {"seconds": LONG})
        self.assertEqual(host.ok(2, "robot", "fast"), "fast")
        host.send({"t": "cancel", "id": 1})
        error = host.result(1)["error"]
        self.assertEqual(error["code"], "CANCELLED")
        self.assertIn("robot.async_sleep", error["message"])
        self.assertTrue(host.ok(3, "robot", "async_was_cancelled"))

    def test_cancel_of_sync_call_answers_at_once_and_interrupts_the_thread(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep_in_steps", {"seconds": LONG})
        self.assertEqual(host.ok(2, "robot", "fast"), "fast")
        host.send({"t": "cancel", "id": 1})
        self.assertEqual(host.result(1)["error"]["code"], "CANCELLED")
        self.assertEqual(host.ok(3, "robot", "was_interrupted"), "_CallInterrupted")

    def test_cancel_of_blocking_sync_call_answers_at_once(self):
        host = self.start_ready()
        host.call(1, "robot", "sleep", {"seconds": LONG})
        self.assertEqual(host.ok(2, "robot", "fast"), "fast")
        host.send({"t": "cancel", "id": 1})
        self.assertEqual(host.result(1)["error"]["code"], "CANCELLED")

    def test_cancel_of_queued_call_and_unknown_id(self):
        host = self.start_ready(None, "--threads", "1")
        host.call(1, "robot", "sleep_in_steps", {"seconds": LONG})
        host.call(2, "robot", "fast")
        host.send({"t": "cancel", "id": 2})
        host.send({"t": "cancel", "id": 99})
        self.assertEqual(host.result(2)["error"]["code"], "CANCELLED")
        host.send({"t": "cancel", "id": 1})
        self.assertEqual(host.result(1)["error"]["code"], "CANCELLED")
        self.assertEqual(host.ok(3, "robot", "fast"), "fast")
        self.assertEqual([f for f in host.pending if f["t"] == "result"], [])
