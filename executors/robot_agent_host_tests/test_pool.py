"""The call pool when no thread may start (the project at its limit of processes)."""

import threading
import unittest
from unittest import mock

from robot_agent_host.pool import Pool


def _refuse(self):
    raise RuntimeError("can't start new thread")


class PoolLimitTest(unittest.TestCase):
    def test_a_call_runs_on_the_caller_when_no_thread_can_start(self):
        pool = Pool(4)
        ran = []
        with mock.patch.object(threading.Thread, "start", _refuse):
            pool.submit(lambda: ran.append(threading.current_thread()))
        self.assertEqual(ran, [threading.current_thread()])

    def test_a_call_waits_for_a_running_thread_when_no_other_can_start(self):
        pool = Pool(4)
        release = threading.Event()
        done = threading.Event()
        pool.submit(release.wait)
        with mock.patch.object(threading.Thread, "start", _refuse):
            pool.submit(done.set)
        self.assertFalse(done.is_set())
        release.set()
        self.assertTrue(done.wait(10), "the queued call never ran")


if __name__ == "__main__":
    unittest.main()
