"""Frames written from many threads at once, and answers racing their timeouts."""

from .support import HostTestCase


class ConcurrencyTest(HostTestCase):
    """Frames written from many threads at once, and answers racing their timeouts."""

    SOURCE = """
        import threading
        import time


        def text(seed, size):
            return ("%d-" % seed * size)[:size]


        def flood(call, thread, count):
            for i in range(count):
                data = {"call": call, "thread": thread, "i": i, "pad": text(i, 3000)}
                push_message("flood", data)


        class Flood:
            def big(self, call, size, pushes):
                threads = [
                    threading.Thread(target=flood, args=(call, k, pushes)) for k in range(2)
                ]
                for thread in threads:
                    thread.start()
                result = text(call, size)
                for thread in threads:
                    thread.join()
                return result

            def sleep(self, seconds):
                time.sleep(seconds)
                return seconds
    """
    # With an async method the host reads on its event loop; without, on a plain thread.
    ASYNC_SOURCE = SOURCE + """
            async def async_big(self, call, size):
                push_message("async", {"call": call, "pad": text(call, 5000)})
                return text(call, size)
    """

    def flood(self, source, async_ids):
        host = self.start_ready({"main.py": source}, "--threads", "8")
        size = 1_000_000
        pushes = 20
        sync_ids = range(1, 17)
        for call_id in sync_ids:
            host.call(call_id, "Flood", "big", {"call": call_id, "size": size, "pushes": pushes})
        for call_id in async_ids:
            host.call(call_id, "Flood", "async_big", {"call": call_id, "size": size})
        for call_id in list(sync_ids) + list(async_ids):
            reply = host.result(call_id)
            self.assertTrue(reply["ok"], reply.get("error"))
            self.assertEqual(reply["result"], ("%d-" % call_id * size)[:size])
        floods = {}
        asyncs = []
        for frame in host.pending:
            self.assertEqual(frame["t"], "event", frame)
            data = frame["data"]
            if frame["event"] == "async":
                self.assertEqual(data["pad"], ("%d-" % data["call"] * 5000)[:5000])
                asyncs.append(data["call"])
                continue
            self.assertEqual(data["pad"], ("%d-" % data["i"] * 3000)[:3000])
            floods.setdefault((data["call"], data["thread"]), []).append(data["i"])
        self.assertEqual(sorted(floods), [(c, k) for c in sync_ids for k in range(2)])
        for sequence in floods.values():
            self.assertEqual(sequence, list(range(pushes)))
        self.assertEqual(sorted(asyncs), list(async_ids))

    def test_big_results_and_event_floods_from_many_threads_arrive_whole(self):
        self.flood(self.SOURCE, [])

    def test_big_results_and_event_floods_arrive_whole_beside_async_calls(self):
        self.flood(self.ASYNC_SOURCE, range(17, 25))

    def test_answers_racing_their_timeouts_come_once_and_abandoned_calls_settle(self):
        host = self.start_ready({"main.py": self.SOURCE}, "--threads", "8")
        ids = range(1, 41)
        for call_id in ids:
            timeout = 0.03 + 0.001 * (call_id % 40)
            host.call(call_id, "Flood", "sleep", {"seconds": 0.05}, timeout=timeout)
        abandoned = set()
        for call_id in ids:
            reply = host.result(call_id)
            if reply["ok"]:
                self.assertEqual(reply["result"], 0.05)
            else:
                self.assertEqual(reply["error"]["code"], "TIMEOUT")
                if reply["error"]["abandoned"]:
                    abandoned.add(call_id)
        for call_id in abandoned:
            host.settled(call_id)
        status = host.status(100)
        self.assertEqual((status["in_flight"], status["abandoned"]), (0, []))
        self.assertEqual(host.ok(101, "Flood", "sleep", {"seconds": 0}), 0)
        self.assertEqual(host.pending, [])
