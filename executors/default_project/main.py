"""Built-in default project: a simulated Unitree Go2 sport client.

``sport_client`` mirrors the method names and arguments of ``SportClient`` from
unitree_sdk2py (``unitree_sdk2py.go2.sport.sport_client``), so code and clients written
against it carry over to the real robot. Unlike the SDK, which returns an integer status
code, every command returns the new simulated state (see ``GetState``) and refuses an
invalid command with ValueError (bad argument) or RuntimeError (wrong posture).

The simulation is kinematic only: Move sets body-frame velocities and the pose is
integrated over wall-clock time until the velocity changes again.
"""

import math
import threading
import time
from typing import Any, Dict, List, Literal, Optional

# What every command returns: the simulated state (see GetState).
State = Dict[str, Any]

try:
    push_message  # noqa: F821 - injected by robot_agent_host before this module runs
except NameError:

    def push_message(event, data=None):
        """Stand-in so the module also imports outside the host; drops the event."""


# Velocity limits of Move in the body frame, from the Go2 sport-mode documentation.
VX_RANGE = (-2.5, 3.8)  # m/s, forward positive
VY_RANGE = (-1.0, 1.0)  # m/s, left positive
VYAW_RANGE = (-4.0, 4.0)  # rad/s, counter-clockwise positive
# Body attitude limits of Euler in balance stand, in radians.
ROLL_RANGE = (-0.75, 0.75)
PITCH_RANGE = (-0.75, 0.75)
YAW_RANGE = (-0.6, 0.6)
# SpeedLevel: -1 slow, 0 normal, 1 fast.
SPEED_LEVELS = (-1, 0, 1)

# Tricks the robot performs from a stand; while one is the mode it counts as upright.
TRICKS = (
    "Hello", "Stretch", "Content", "Heart", "Scrape",
    "FrontFlip", "FrontJump", "FrontPounce", "Dance1", "Dance2",
)
UPRIGHT_MODES = {"standing", "balance_stand", "locomotion", "pose"} | {
    trick.lower() for trick in TRICKS
}
# Why a command that needs an upright robot is refused, by current mode.
_NOT_UPRIGHT = {
    "lying": "robot is lying down; call StandUp or RecoveryStand first",
    "damp": "robot is in damping mode; call RecoveryStand first",
    "sitting": "robot is sitting; call RiseSit first",
}


def _number(name, value, limits=None, unit=""):
    finite = isinstance(value, (int, float)) and math.isfinite(value)
    if isinstance(value, bool) or not finite:
        raise ValueError(f"Invalid {name}: expected a finite number, got {value!r}")
    if limits is not None and not limits[0] <= value <= limits[1]:
        raise ValueError(
            f"Invalid {name}: {value} is outside [{limits[0]}, {limits[1]}]{unit}"
        )
    return float(value)


def _flag(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"Invalid {name}: expected true or false, got {value!r}")
    return value


def _wrap_angle(angle):
    return math.atan2(math.sin(angle), math.cos(angle))


class _SportClient:
    """Simulated stand-in for unitree_sdk2py's Go2 ``SportClient``; thread-safe.

    Private class so that only the ``sport_client`` instance is offered to callers.
    """

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._mode = "lying"
        self._velocity = (0.0, 0.0, 0.0)
        self._euler = (0.0, 0.0, 0.0)
        self._position = (0.0, 0.0, 0.0)
        self._since = clock()
        self._speed_level = 0
        self._joystick = True
        self._timeout = 10.0
        self._command_count = 0

    def Init(self) -> State:
        """Connects to the sport service; nothing to do in simulation."""
        return self._command(None)

    def SetTimeout(self, timeout: float) -> State:
        """Sets the RPC timeout in seconds (> 0), kept for API compatibility."""
        value = _number("timeout", timeout)
        if value <= 0:
            raise ValueError(f"Invalid timeout: expected a positive number, got {timeout!r}")
        return self._command(None, timeout=value)

    def Damp(self) -> State:
        """Damping mode: all joints go limp at once; the emergency stop of the real robot."""
        return self._command(None, mode="damp", velocity=(0.0, 0.0, 0.0))

    def BalanceStand(self) -> State:
        """Stands balanced, ready for Move and Euler; needs an upright robot."""
        return self._command("balance", mode="balance_stand")

    def StopMove(self) -> State:
        """Stops walking: velocities to zero, locomotion back to balance stand."""
        with self._lock:
            self._advance()
            self._velocity = (0.0, 0.0, 0.0)
            if self._mode == "locomotion":
                self._mode = "balance_stand"
            self._command_count += 1
            return self._state()

    def StandUp(self) -> State:
        """Stands up from lying, joints locked, level body."""
        return self._command(None, mode="standing", velocity=(0.0, 0.0, 0.0), euler=(0.0,) * 3)

    def StandDown(self) -> State:
        """Lies down."""
        return self._command(None, mode="lying", velocity=(0.0, 0.0, 0.0), euler=(0.0,) * 3)

    def RecoveryStand(self) -> State:
        """Gets up into balance stand from any posture (after a fall or damping)."""
        return self._command(None, mode="balance_stand", velocity=(0.0, 0.0, 0.0))

    def Euler(self, roll: float, pitch: float, yaw: float) -> State:
        """Tilts the standing body: roll and pitch in [-0.75, 0.75] rad, yaw in [-0.6, 0.6] rad."""
        euler = (
            _number("roll", roll, ROLL_RANGE, " rad"),
            _number("pitch", pitch, PITCH_RANGE, " rad"),
            _number("yaw", yaw, YAW_RANGE, " rad"),
        )
        return self._command("set the body attitude", euler=euler)

    def Move(self, vx: float, vy: float, vyaw: float) -> State:
        """Walks at body-frame velocities: vx forward in [-2.5, 3.8] m/s, vy left in [-1, 1] m/s,
        vyaw counter-clockwise in [-4, 4] rad/s; they hold until the next Move or StopMove."""
        velocity = (
            _number("vx", vx, VX_RANGE, " m/s"),
            _number("vy", vy, VY_RANGE, " m/s"),
            _number("vyaw", vyaw, VYAW_RANGE, " rad/s"),
        )
        return self._command("move", mode="locomotion", velocity=velocity)

    def Sit(self) -> State:
        """Sits down on its hind legs; RiseSit stands it back up."""
        return self._command("sit", mode="sitting", velocity=(0.0, 0.0, 0.0))

    def RiseSit(self) -> State:
        """Rises from sitting into balance stand."""
        with self._lock:
            if self._mode != "sitting":
                raise RuntimeError(f"Cannot rise: robot is not sitting; its mode is {self._mode}")
            self._advance()
            self._mode = "balance_stand"
            self._command_count += 1
            return self._state()

    def SpeedLevel(self, level: Literal[-1, 0, 1]) -> State:
        """Sets the walking speed range: -1 slow, 0 normal, 1 fast."""
        if level not in SPEED_LEVELS or isinstance(level, bool):
            raise ValueError(f"Invalid level: expected one of {SPEED_LEVELS}, got {level!r}")
        return self._command(None, speed_level=int(level))

    def SwitchJoystick(self, on: bool) -> State:
        """Lets the handheld joystick drive the robot (true) or not (false)."""
        return self._command(None, joystick=_flag("on", on))

    def Pose(self, flag: bool) -> State:
        """Holds a pose the body can then be tilted in (true), or goes back to balance stand."""
        mode = "pose" if _flag("flag", flag) else "balance_stand"
        return self._command("hold a pose", mode=mode, velocity=(0.0, 0.0, 0.0))

    def Hello(self) -> State:
        """Waves a front paw. Needs an upright robot."""
        return self._trick("Hello")

    def Stretch(self) -> State:
        """Stretches. Needs an upright robot."""
        return self._trick("Stretch")

    def Content(self) -> State:
        """Shows contentment. Needs an upright robot."""
        return self._trick("Content")

    def Heart(self) -> State:
        """Draws a heart with a paw. Needs an upright robot."""
        return self._trick("Heart")

    def Scrape(self) -> State:
        """Scrapes the ground. Needs an upright robot."""
        return self._trick("Scrape")

    def FrontFlip(self) -> State:
        """Does a front flip. Needs an upright robot."""
        return self._trick("FrontFlip")

    def FrontJump(self) -> State:
        """Jumps forward. Needs an upright robot."""
        return self._trick("FrontJump")

    def FrontPounce(self) -> State:
        """Pounces forward. Needs an upright robot."""
        return self._trick("FrontPounce")

    def Dance1(self) -> State:
        """Dances, routine 1. Needs an upright robot."""
        return self._trick("Dance1")

    def Dance2(self) -> State:
        """Dances, routine 2. Needs an upright robot."""
        return self._trick("Dance2")

    def GetState(self, keys: Optional[List[str]] = None) -> State:
        """The simulated state: mode, velocity (m/s, rad/s), euler (rad), position (m, rad),
        speed_level, joystick, timeout (s), command_count; with ``keys``, only those fields."""
        with self._lock:
            self._advance()
            state = self._state()
        if keys is None:
            return state
        if not isinstance(keys, list):
            raise ValueError(f"Invalid keys: expected a list of field names, got {keys!r}")
        unknown = [key for key in keys if key not in state]
        if unknown:
            raise ValueError(f"Invalid keys: unknown {unknown}; known are {sorted(state)}")
        return {key: state[key] for key in keys}

    def _trick(self, name):
        return self._command(name, mode=name.lower(), velocity=(0.0, 0.0, 0.0))

    def _command(self, action, **changes):
        """Applies one command: checks the posture if action names one, then the changes."""
        with self._lock:
            if action is not None and self._mode not in UPRIGHT_MODES:
                raise RuntimeError(f"Cannot {action}: {_NOT_UPRIGHT[self._mode]}")
            self._advance()
            for field, value in changes.items():
                setattr(self, "_" + field, value)
            self._command_count += 1
            return self._state()

    def _advance(self):
        """Integrates the body-frame velocity into the world pose up to now."""
        now = self._clock()
        dt = now - self._since
        self._since = now
        vx, vy, vyaw = self._velocity
        x, y, yaw = self._position
        if abs(vyaw) < 1e-9:
            x += (vx * math.cos(yaw) - vy * math.sin(yaw)) * dt
            y += (vx * math.sin(yaw) + vy * math.cos(yaw)) * dt
        else:
            # Exact solution for constant body velocities while turning at vyaw.
            end = yaw + vyaw * dt
            sin_delta = math.sin(end) - math.sin(yaw)
            cos_delta = math.cos(end) - math.cos(yaw)
            x += (vx * sin_delta + vy * cos_delta) / vyaw
            y += (vy * sin_delta - vx * cos_delta) / vyaw
            yaw = end
        self._position = (x, y, _wrap_angle(yaw))

    def _state(self):
        vx, vy, vyaw = self._velocity
        roll, pitch, yaw = self._euler
        x, y, heading = self._position
        return {
            "mode": self._mode,
            "velocity": {"vx": vx, "vy": vy, "vyaw": vyaw},
            "euler": {"roll": roll, "pitch": pitch, "yaw": yaw},
            "position": {"x": round(x, 6), "y": round(y, 6), "yaw": round(heading, 6)},
            "speed_level": self._speed_level,
            "joystick": self._joystick,
            "timeout": self._timeout,
            "command_count": self._command_count,
        }


sport_client = _SportClient()


def init():
    """Announces the simulated robot with its initial state."""
    push_message("robot_ready", sport_client.GetState())


def stop():
    """Safety stop: halts any motion at once."""
    sport_client.StopMove()
