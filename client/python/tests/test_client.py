"""The Python client against a real agent: ROBOT_AGENT_URL names it (with its token).

tests/python_client_test.ts starts the agent and runs these under /usr/bin/python3.
"""

import asyncio
import os
import shutil
import sys
import tempfile
import textwrap
import unittest
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from robot_agent_client import (  # noqa: E402
    AsyncRobot,
    RobotConnectionError,
    RobotError,
    agent_url,
    connect,
)

URL = os.environ.get("ROBOT_AGENT_URL", "")


class Proxy:
    """A TCP proxy to the agent whose connections a test can cut, as a lost link would."""

    def __init__(self, cut_first_after=None):
        self.target = urlsplit(URL).port
        self.cut_first_after = cut_first_after
        self.connections = 0
        self.open = set()

    async def start(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return URL.replace(":{}/".format(self.target), ":{}/".format(self.port))

    async def _handle(self, reader, writer):
        self.connections += 1
        limit = self.cut_first_after if self.connections == 1 else None
        agent_reader, agent_writer = await asyncio.open_connection("127.0.0.1", self.target)
        pair = (writer, agent_writer)
        self.open.add(pair)
        await asyncio.gather(self._pipe(pair, reader, agent_writer, limit), self._pipe(pair, agent_reader, writer))

    async def _pipe(self, pair, reader, writer, limit=None):
        moved = 0
        try:
            while limit is None or moved < limit:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
                moved += len(data)
        except (ConnectionError, OSError):
            pass
        self.cut(pair)

    def cut(self, pair):
        self.open.discard(pair)
        for writer in pair:
            writer.close()

    def cut_all(self):
        for pair in list(self.open):
            self.cut(pair)

    async def close(self):
        self.cut_all()
        self.server.close()
        await self.server.wait_closed()

PROJECT = textwrap.dedent('''
    import os
    import time

    class Arm:
        def wave(self, times=1):
            push_message("waving", {"times": times})
            return ["wave"] * times

        def fail(self):
            raise ValueError("arm is folded")

        def files(self):
            found = []
            for top, dirs, names in os.walk("."):
                found += [os.path.relpath(os.path.join(top, n), ".") for n in names]
            return sorted(found)

        def slow(self, seconds=30):
            time.sleep(seconds)

        def shout(self, text):
            print("shouting", text, flush=True)
            return text

    arm = Arm()
''')


@unittest.skipUnless(URL, "ROBOT_AGENT_URL names no agent")
class ClientTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="robot-agent-py-client-")
        for path, text in {
            "main.py": PROJECT,
            "logs/run.log": "not deployed",
            ".robotignore": "logs/\n",
        }.items():
            full = os.path.join(self.folder, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as handle:
                handle.write(text)

    def tearDown(self):
        shutil.rmtree(self.folder)

    def test_attribute_proxies_call_the_project_with_keyword_arguments(self):
        with connect(URL) as robot:
            robot.deploy(self.folder, start=True)
            self.assertIn("arm", dir(robot))
            self.assertIn("wave", dir(robot.arm))
            self.assertEqual(robot.arm.wave(times=2), ["wave", "wave"])
            self.assertEqual(robot["arm"].wave(), ["wave"])
            # describe names the parameters: positional arguments are matched to them.
            self.assertEqual(robot.arm.wave(2), ["wave", "wave"])
            with self.assertRaises(TypeError):
                robot.arm.wave(1, 2, 3)
            self.assertIn("wave(times = 1)", robot.arm.wave.signature())

    def test_logs_return_print_output_and_follow_new_lines(self):
        with connect(URL) as robot:
            robot.deploy(self.folder, start=True)
            robot.arm.wave(times=1)
            live = robot.logs(follow=True, source="project", lines=0, timeout=10)
            robot.arm.shout(text="hello")
            for entry in live:
                if entry["message"] == "shouting hello":
                    self.assertEqual(entry["stream"], "stdout")
                    break
            else:
                self.fail("the printed line never came")
            recent = robot.logs(source="project", lines=50)
            self.assertIn("shouting hello", [entry["message"] for entry in recent])

    def test_the_simulated_robot_is_driven_through_described_proxies(self):
        with connect(URL) as robot:
            robot.request("activate", {"version": 0})  # the built-in simulated robot
            robot.describe()
            robot.sport_client.StandUp()
            state = robot.sport_client.Move(0.3, 0, 0.1)
            self.assertEqual(state["velocity"]["vx"], 0.3)
            self.assertEqual(
                robot.sport_client.Move.signature(),
                "Move(vx: float, vy: float, vyaw: float) -> Dict[str, Any]",
            )
            self.assertIn("m/s", robot.sport_client.Move.__doc__)
            with self.assertRaises(RobotError) as refused:
                robot.sport_client.Move("fast", 0, 0)
            self.assertEqual(refused.exception.code, "BAD_ARGS")
            self.assertEqual(refused.exception.data["pointer"], "/params/args/vx")

    def test_failures_raise_robot_error_with_the_agent_code(self):
        with connect(URL) as robot:
            robot.deploy(self.folder, start=True)
            with self.assertRaises(RobotError) as bad_args:
                robot.arm.wave(nope=1)
            self.assertEqual(bad_args.exception.code, "BAD_ARGS")
            with self.assertRaises(RobotError) as unknown:
                robot.no_such_object.Go()
            self.assertEqual(unknown.exception.code, "UNKNOWN_OBJECT")
            with self.assertRaises(RobotError) as raised:
                robot.arm.fail()
            self.assertEqual(raised.exception.code, "EXCEPTION")
            self.assertEqual(raised.exception.data["type"], "ValueError")
            self.assertIn("arm is folded", raised.exception.traceback)

    def test_deploy_leaves_out_robotignore_paths_then_events_arrive(self):
        with connect(URL) as robot:
            phases = []
            outcome = robot.deploy(self.folder, start=True, on_progress=lambda p: phases.append(p["phase"]))
            self.assertGreaterEqual(outcome["version"], 1)
            self.assertEqual(outcome["started"]["version"], outcome["version"])
            self.assertEqual(phases[-1], "deploying")
            self.assertEqual(robot.objects["arm"], ["fail", "files", "shout", "slow", "wave"])
            self.assertEqual(robot.arm.files(), ["main.py"])
            seen = []
            remove = robot.on_event(seen.append, "waving")
            events = robot.events("waving", timeout=5)
            robot.arm.wave(times=2)
            self.assertEqual(next(events).data, {"times": 2})
            events.close()
            remove()
            self.assertEqual([event.data for event in seen], [{"times": 2}])

    def test_rollback_returns_to_the_previous_version(self):
        with connect(URL) as robot:
            deployed = robot.deploy(self.folder, start=True)["version"]
            self.assertIn("arm", robot.objects)
            rolled = robot.rollback()
            # To the newest version before it that proved good: here the built-in project.
            self.assertEqual(rolled["rolled_back_from"], deployed)
            self.assertLess(rolled["version"], deployed)
            self.assertIn("sport_client", robot.objects)

    def test_timeout_cancels_the_call(self):
        with connect(URL) as robot:
            robot.deploy(self.folder, start=True)
            with self.assertRaises(RobotError) as timed_out:
                robot.call("arm", "slow", {"seconds": 30}, timeout=0.3)
            self.assertEqual(timed_out.exception.code, "TIMEOUT")
            self.assertEqual(robot.arm.wave(), ["wave"])

    def test_asyncio_client_deploys_calls_and_iterates_events(self):
        async def main():
            robot = await AsyncRobot.connect(URL)
            try:
                await robot.deploy(self.folder, start=True)
                self.assertEqual((await robot.status())["worker"]["state"], "running")
                events = robot.events("waving")
                self.assertEqual(await robot.call("arm", "wave", {"times": 3}), ["wave"] * 3)
                event = await asyncio.wait_for(events.__anext__(), 5)
                self.assertEqual(event.data, {"times": 3})
                await events.aclose()
            finally:
                await robot.close()

        asyncio.run(main())

    def test_deploy_resumes_after_the_link_drops(self):
        with open(os.path.join(self.folder, "data.bin"), "wb") as handle:
            handle.write(os.urandom(1500000))

        async def main():
            proxy = Proxy(cut_first_after=400000)
            robot = await AsyncRobot.connect(await proxy.start())
            phases = []
            try:
                outcome = await robot.deploy(self.folder, on_progress=phases.append, chunk_size=65536)
            finally:
                await robot.close()
                await proxy.close()
            self.assertGreaterEqual(outcome["version"], 1)
            self.assertIn("interrupted", [p["phase"] for p in phases])
            resumed = [p for p in phases if p["phase"] == "resumed"]
            self.assertTrue(resumed and resumed[0]["received"] > 0, phases)
            self.assertGreaterEqual(proxy.connections, 2)

        asyncio.run(main())

    def test_a_call_result_arrives_across_a_dropped_link(self):
        async def main():
            proxy = Proxy()
            robot = await AsyncRobot.connect(await proxy.start())
            try:
                await robot.deploy(self.folder, start=True)
                reconnected = asyncio.Event()
                robot.on_connection(lambda kind, error: kind == "reconnect" and reconnected.set())
                call = asyncio.ensure_future(robot.call("arm", "slow", {"seconds": 1}))
                await asyncio.sleep(0.3)
                proxy.cut_all()
                await asyncio.wait_for(reconnected.wait(), 10)
                self.assertIsNone(await asyncio.wait_for(call, 10))
            finally:
                await robot.close()
                await proxy.close()
            self.assertGreaterEqual(proxy.connections, 2)

        asyncio.run(main())

    def test_a_second_client_is_refused_busy(self):
        with connect(URL):
            with self.assertRaises(RobotConnectionError) as refused:
                connect(URL, reconnect=0)
            self.assertEqual(refused.exception.code, "BUSY")

    def test_a_wrong_token_is_refused_unauthorized(self):
        with self.assertRaises(RobotConnectionError) as refused:
            connect(URL, token="ra_wrong")
        self.assertEqual(refused.exception.code, "UNAUTHORIZED")
        self.assertNotIn("ra_wrong", str(refused.exception))


class AgentUrlTest(unittest.TestCase):
    def test_reads_hosts_and_adds_token_and_session(self):
        self.assertEqual(agent_url("go2"), "ws://go2:8000/ws")
        self.assertEqual(agent_url("http://go2:9000"), "ws://go2:9000/ws")
        self.assertEqual(agent_url("ws://go2:8000/ws?token=old", token="new"), "ws://go2:8000/ws?token=new")
        with self.assertRaises(ValueError):
            agent_url("ftp://go2")


if __name__ == "__main__":
    unittest.main()
