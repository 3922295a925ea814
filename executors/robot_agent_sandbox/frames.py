"""The frames the launcher sends the agent, in the agent's IPC format: a 4-byte big-endian
length of the rest, a 4-byte big-endian length of the JSON head, the head (no body)."""

import json
import struct


def send(sock, message):
    head = json.dumps(message, separators=(",", ":")).encode()
    sock.sendall(struct.pack(">II", 4 + len(head), len(head)) + head)
