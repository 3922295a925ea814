"""The safety stop: the project's stop hooks, run whatever its calls are doing."""

from .support import LONG, HostTestCase


class SafetyStopTest(HostTestCase):
    PROJECT = {"main.py": """
        import time

        log = []

        def stop():
            log.append("module")

        class Motor:
            def spin(self):
                return "spinning"

            def stop(self):
                log.append("motor")

        class Broken:
            def touch(self):
                return "touched"

            def stop(self):
                raise RuntimeError("jammed")

        class Unused:
            def stop(self):
                log.append("unused")

        class Async:
            def touch(self):
                return "touched"

            async def stop(self):
                log.append("async")

        class Busy:
            def sleep(self, seconds):
                time.sleep(seconds)

        class Log:
            def entries(self):
                return log
    """}

    def test_safety_stop_runs_module_and_used_object_hooks(self):
        host = self.start_ready(self.PROJECT)
        host.ok(1, "Motor", "spin")
        host.ok(2, "Broken", "touch")
        host.ok(3, "Async", "touch")
        host.send({"t": "safety_stop", "id": 4})
        result = host.result(4)
        self.assertTrue(result["ok"])
        self.assertEqual(result["result"]["ran"], ["stop", "Motor.stop", "Async.stop"])
        self.assertEqual(result["result"]["errors"], ["Broken.stop: RuntimeError: jammed"])
        self.assertEqual(host.ok(5, "Log", "entries"), ["module", "motor", "async"])

    def test_safety_stop_answers_while_the_pool_is_saturated(self):
        host = self.start_ready(self.PROJECT, "--threads", "1")
        host.ok(1, "Motor", "spin")
        host.call(2, "Busy", "sleep", {"seconds": LONG})
        host.call(3, "Busy", "sleep", {"seconds": LONG})
        host.send({"t": "safety_stop", "id": 4})
        self.assertEqual(host.result(4)["result"]["ran"], ["stop", "Motor.stop"])
