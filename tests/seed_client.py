"""A client written only from the seed document (ARCHITECTURE.md, section 4 and 5).

Python stdlib only (a raw RFC 6455 client), as a robot team's first script would be.
It knows nothing of ids, events or codes: it sends the seed's three commands and reads
replies of the form {"status": "success|error|callback", "message": ..., "data": {...}}.

Usage: python3 seed_client.py "ws://HOST:PORT/ws?token=TOKEN"
Prints one JSON line per step; exits 0 when the seed flows behave as the seed says.
"""

import base64
import io
import json
import os
import socket
import struct
import sys
import zipfile
from urllib.parse import urlparse


class SeedClient:
    def __init__(self, url):
        parts = urlparse(url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        request = (
            "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).format(target, parts.hostname, parts.port, key)
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("connection closed during handshake")
            response += chunk
        head, self.buffer = response.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError("handshake refused: " + head.decode(errors="replace"))

    def _recv_exact(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _send_frame(self, opcode, payload):
        header = bytearray([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header.append(0x80 | length)
        elif length < 65536:
            header.append(0x80 | 126)
            header += struct.pack(">H", length)
        else:
            header.append(0x80 | 127)
            header += struct.pack(">Q", length)
        mask = os.urandom(4)
        header += mask
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if length < 4096 else _mask(payload, mask)
        self.sock.sendall(bytes(header) + masked)

    def send(self, message):
        self._send_frame(0x1, json.dumps(message).encode())

    def recv(self):
        while True:
            first, second = self._recv_exact(2)
            opcode = first & 0x0F
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._recv_exact(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._recv_exact(8))[0]
            payload = self._recv_exact(length)
            if opcode == 0x9:
                self._send_frame(0xA, payload)
            elif opcode == 0x8:
                raise RuntimeError("server closed the connection")
            elif opcode == 0x1:
                return json.loads(payload.decode())

    def close(self):
        try:
            self._send_frame(0x8, struct.pack(">H", 1000))
        finally:
            self.sock.close()


def _mask(payload, mask):
    # Fast path for large payloads: XOR through integers.
    n = len(payload)
    repeated = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def project_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "main.py",
            "class Greeter:\n"
            "    def hello(self, name):\n"
            "        return {'greeting': 'hello ' + name}\n"
            "\n"
            "greeter = Greeter()\n",
        )
    return buffer.getvalue()


def expect(condition, what, message):
    print(json.dumps({"step": what, "ok": bool(condition), "message": message}))
    if not condition:
        sys.exit(1)


def main():
    client = SeedClient(sys.argv[1])
    # The default project answers before any update or start.
    client.send({"command": "process", "params": {"object": "sport_client", "method": "StandUp", "args": {}}})
    ack = client.recv()
    expect(ack["status"] == "success", "process ack", ack)
    callback = client.recv()
    expect(callback["status"] == "callback" and callback["data"]["ok"], "process callback", callback)

    client.send({"command": "update", "data": base64.b64encode(project_zip()).decode()})
    reply = client.recv()
    expect(reply["status"] == "success" and reply["data"]["type"] == "python", "update", reply)

    client.send({"command": "start"})
    reply = client.recv()
    expect(reply["status"] == "success", "start", reply)

    client.send({"command": "process", "params": {"object": "greeter", "method": "hello", "args": {"name": "robot"}}})
    ack = client.recv()
    expect(ack["status"] == "success" and set(ack) >= {"status", "message", "data"}, "process ack", ack)
    callback = client.recv()
    expect(
        callback["status"] == "callback" and callback["data"]["result"] == {"greeting": "hello robot"},
        "process callback",
        callback,
    )

    client.send({"command": "process", "params": {"object": "greeter", "method": "fly", "args": {}}})
    reply = client.recv()
    expect(reply["status"] == "error" and reply["message"], "unknown method", reply)
    client.close()


if __name__ == "__main__":
    main()
