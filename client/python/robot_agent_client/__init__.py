"""The robot agent's Python client: deploy, call and watch a robot from your laptop.

Blocking::

    from robot_agent_client import connect

    with connect("ws://go2:8000/ws", token="ra_...") as robot:
        robot.deploy("./my_project", start=True)
        print(robot.sport_client.StandUp())
        for event in robot.events("waving", timeout=5):
            print(event.data)

asyncio::

    robot = await AsyncRobot.connect("ws://go2:8000/ws", token="ra_...")
    print(await robot.call("sport_client", "Move", {"vx": 0.3, "vy": 0, "vyaw": 0}))
    await robot.close()

Failures raise RobotError with the agent's stable ``code``; a connection that cannot be
made or resumed raises RobotConnectionError (a RobotError). Python 3.8+, ``websockets``.
"""

from ._core import AsyncRobot, Event, agent_url
from ._errors import RobotConnectionError, RobotError
from ._sync import MethodProxy, ObjectProxy, Robot, connect
from ._upload import encode_chunk
from ._zip import zip_folder

__all__ = [
    "AsyncRobot",
    "Event",
    "MethodProxy",
    "ObjectProxy",
    "Robot",
    "RobotConnectionError",
    "RobotError",
    "agent_url",
    "connect",
    "encode_chunk",
    "zip_folder",
]
