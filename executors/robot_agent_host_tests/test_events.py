"""push_message, the project's own output, and the event loop async methods run on."""

from .support import HostTestCase


class EventAndOutputTest(HostTestCase):
    def test_push_message_from_a_thread_sends_events(self):
        host = self.start_ready()
        self.assertEqual(host.ok(1, "robot", "push_from_thread"), "pushed")
        self.assertEqual(host.event("tick")["data"], {"n": 1})
        self.assertEqual(host.event("odd")["data"], "{1, 2}")

    def test_print_does_not_corrupt_the_channel(self):
        host = self.start_ready()
        self.assertEqual(host.ok(1, "robot", "noisy"), "quiet")
        self.assertEqual(host.ok(2, "robot", "add", {"a": 1, "b": 1}), 2)
        host.send({"t": "shutdown"})
        self.assertEqual(host.wait(), 0)
        self.assertIn(b"printed line\n", host.stdout)
        self.assertIn(b"to stderr\n", host.stderr)


class EventLoopTest(HostTestCase):
    def test_sync_project_loads_asyncio_only_for_its_first_coroutine(self):
        host = self.start_ready({"main.py": """
            import sys


            async def answer():
                return 42


            class Probe:
                def loaded(self):
                    return [name for name in ("asyncio", "ctypes") if name in sys.modules]

                def later(self):
                    return answer()
        """})
        self.assertEqual(host.ok(1, "Probe", "loaded"), [])
        self.assertEqual(host.ok(2, "Probe", "later"), 42)
        self.assertEqual(host.ok(3, "Probe", "loaded"), ["asyncio"])

    def test_async_methods_run_on_the_main_thread(self):
        host = self.start_ready({"main.py": """
            import asyncio
            import signal
            import threading


            class Probe:
                async def where(self):
                    loop = asyncio.get_running_loop()
                    # Only a loop on the main thread can take signal handlers.
                    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
                    loop.remove_signal_handler(signal.SIGUSR1)
                    return threading.current_thread() is threading.main_thread()
        """})
        self.assertIs(host.ok(1, "Probe", "where"), True)

    def test_the_loop_the_project_made_current_at_import_runs_its_coroutines(self):
        source = """
            import asyncio

            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            # Bound to the loop above when created on Python 3.8 and 3.9.
            flag = asyncio.Event()


            async def raise_flag():
                flag.set()
                return "raised"


            async def flag_raised_on_loop():
                await flag.wait()
                return asyncio.get_running_loop() is loop


            class Bridge:
                def from_thread(self):
                    return asyncio.run_coroutine_threadsafe(raise_flag(), loop).result(5)

                def check_from_thread(self):
                    return asyncio.run_coroutine_threadsafe(flag_raised_on_loop(), loop).result(5)
        """
        with_async_method = source + """
                async def check(self):
                    return await flag_raised_on_loop()
        """
        for project, check in ((source, "check_from_thread"), (with_async_method, "check")):
            with self.subTest(check=check):
                host = self.start_ready({"main.py": project})
                self.assertEqual(host.ok(1, "Bridge", "from_thread"), "raised")
                self.assertIs(host.ok(2, "Bridge", check), True)
