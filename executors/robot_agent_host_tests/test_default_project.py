"""The default project (the simulated robot), through the host and on its own."""

import importlib.util
import math
import os
import time
import unittest

from .support import DEFAULT_PROJECT, HostTestCase


class DefaultProjectHostTest(HostTestCase):
    def test_default_project_walks_and_stops_through_the_host(self):
        host = self.start(project=DEFAULT_PROJECT)
        self.assertEqual(host.event("robot_ready")["data"]["mode"], "lying")
        ready = host.ready()
        self.assertEqual(list(ready["objects"]), ["sport_client"])
        for method in ("Move", "StandUp", "StopMove", "GetState", "Dance1", "SetTimeout"):
            self.assertIn(method, ready["objects"]["sport_client"])

        error = host.error(1, "sport_client", "Move", {"vx": 0.5, "vy": 0, "vyaw": 0})
        self.assertEqual((error["code"], error["type"]), ("EXCEPTION", "RuntimeError"))
        self.assertEqual(
            error["message"],
            "Cannot move: robot is lying down; call StandUp or RecoveryStand first",
        )
        self.assertEqual(host.ok(2, "sport_client", "StandUp")["mode"], "standing")
        state = host.ok(3, "sport_client", "Move", {"vx": 1.0, "vy": 0.0, "vyaw": 0.0})
        self.assertEqual(state["mode"], "locomotion")
        time.sleep(0.05)
        first = host.ok(4, "sport_client", "GetState")
        time.sleep(0.05)
        second = host.ok(5, "sport_client", "GetState")
        self.assertEqual(second["velocity"], {"vx": 1.0, "vy": 0.0, "vyaw": 0.0})
        self.assertGreater(first["position"]["x"], 0)
        self.assertGreater(second["position"]["x"], first["position"]["x"])

        error = host.error(6, "sport_client", "Move", {"vx": 9.0, "vy": 0, "vyaw": 0})
        self.assertEqual((error["code"], error["type"]), ("EXCEPTION", "ValueError"))
        self.assertEqual(error["message"], "Invalid vx: 9.0 is outside [-2.5, 3.8] m/s")

        host.send({"t": "safety_stop", "id": 7})
        self.assertEqual(host.result(7)["result"], {"ran": ["stop"], "errors": []})
        state = host.ok(8, "sport_client", "GetState")
        self.assertEqual(state["velocity"], {"vx": 0.0, "vy": 0.0, "vyaw": 0.0})
        self.assertEqual(state["mode"], "balance_stand")


def load_default_project():
    spec = importlib.util.spec_from_file_location(
        "default_project_main", os.path.join(DEFAULT_PROJECT, "main.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class DefaultProjectTest(unittest.TestCase):
    def setUp(self):
        self.module = load_default_project()
        self.clock = FakeClock()
        self.client = self.module._SportClient(clock=self.clock)

    def test_starts_lying_and_refuses_to_move(self):
        self.assertEqual(self.client.GetState()["mode"], "lying")
        with self.assertRaisesRegex(RuntimeError, "^Cannot move: robot is lying down"):
            self.client.Move(0.5, 0, 0)

    def test_move_integrates_position_over_time(self):
        self.client.StandUp()
        self.client.Move(1.0, 0.0, 0.0)
        self.clock.now += 2.0
        self.assertAlmostEqual(self.client.GetState()["position"]["x"], 2.0)
        self.client.Move(0.0, 0.0, math.pi / 2)
        self.clock.now += 1.0
        self.client.Move(1.0, 0.0, 0.0)
        self.clock.now += 1.0
        position = self.client.StopMove()["position"]
        self.assertAlmostEqual(position["x"], 2.0, places=5)
        self.assertAlmostEqual(position["y"], 1.0, places=5)
        self.assertAlmostEqual(position["yaw"], math.pi / 2, places=5)
        self.clock.now += 5.0
        self.assertAlmostEqual(self.client.GetState()["position"]["y"], 1.0, places=5)

    def test_turning_while_walking_follows_a_circle(self):
        self.client.RecoveryStand()
        self.client.Move(1.0, 0.0, 1.0)
        self.clock.now += math.pi
        position = self.client.GetState()["position"]
        self.assertAlmostEqual(position["x"], 0.0, places=5)
        self.assertAlmostEqual(position["y"], 2.0, places=5)

    def test_limits_are_enforced(self):
        self.client.StandUp()
        with self.assertRaisesRegex(ValueError, r"^Invalid vy: 1.5 is outside \[-1.0, 1.0\] m/s"):
            self.client.Move(0, 1.5, 0)
        with self.assertRaisesRegex(ValueError, "^Invalid vx: expected a finite number"):
            self.client.Move(float("nan"), 0, 0)
        with self.assertRaisesRegex(ValueError, "^Invalid roll"):
            self.client.Euler(1.0, 0, 0)
        with self.assertRaisesRegex(ValueError, "^Invalid level"):
            self.client.SpeedLevel(3)
        with self.assertRaisesRegex(ValueError, "^Invalid on"):
            self.client.SwitchJoystick("yes")

    def test_mode_transitions(self):
        client = self.client
        self.assertEqual(client.StandUp()["mode"], "standing")
        self.assertEqual(client.Move(0.5, 0, 0)["mode"], "locomotion")
        self.assertEqual(client.StopMove()["mode"], "balance_stand")
        self.assertEqual(client.Sit()["mode"], "sitting")
        with self.assertRaisesRegex(RuntimeError, "call RiseSit first"):
            client.Hello()
        self.assertEqual(client.RiseSit()["mode"], "balance_stand")
        self.assertEqual(client.Dance1()["mode"], "dance1")
        self.assertEqual(client.Pose(True)["mode"], "pose")
        self.assertEqual(client.Pose(False)["mode"], "balance_stand")
        self.assertEqual(client.Damp()["mode"], "damp")
        with self.assertRaisesRegex(RuntimeError, "damping mode"):
            client.BalanceStand()
        self.assertEqual(client.StandDown()["mode"], "lying")

    def test_state_fields_and_command_count(self):
        client = self.client
        client.Init()
        client.SetTimeout(5.0)
        client.SpeedLevel(1)
        state = client.GetState()
        self.assertEqual(state["command_count"], 3)
        self.assertEqual((state["speed_level"], state["timeout"]), (1, 5.0))
        self.assertEqual(client.GetState(["mode", "joystick"]), {"mode": "lying", "joystick": True})
        self.assertEqual(client.GetState()["command_count"], 3)

    def test_module_stop_halts_motion(self):
        client = self.module.sport_client
        client.StandUp()
        client.Move(0.5, 0.2, 0.1)
        self.module.stop()
        self.assertEqual(client.GetState()["velocity"], {"vx": 0.0, "vy": 0.0, "vyaw": 0.0})
