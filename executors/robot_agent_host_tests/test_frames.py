"""Framing: frames split, coalesced, with bodies, and broken ones, on both readers."""

import json
import struct
import time

from .support import SYNC_SAMPLE, HostTestCase, encode


class FramingTest(HostTestCase):
    PROJECT = None

    def test_frame_sent_byte_by_byte_is_reassembled(self):
        host = self.start_ready(self.PROJECT)
        for byte in encode({"t": "call", "id": 1, "object": "robot", "method": "fast", "args": {}}):
            host.conn.sendall(bytes([byte]))
            time.sleep(0.001)
        self.assertEqual(host.result(1)["result"], "fast")

    def test_coalesced_frames_are_all_handled(self):
        host = self.start_ready(self.PROJECT)
        data = b"".join(
            encode(
                {"t": "call", "id": i, "object": "robot", "method": "add", "args": {"a": i, "b": 1}}
            )
            for i in range(1, 6)
        )
        host.conn.sendall(data[:7])
        host.conn.sendall(data[7:])
        self.assertEqual([host.result(i)["result"] for i in range(1, 6)], [2, 3, 4, 5, 6])

    def test_a_long_result_comes_as_the_body_a_short_one_in_the_head(self):
        host = self.start_ready(self.PROJECT)
        # JSON of 1,024 bytes (the limit) and of 1,025.
        for call_id, text in ((1, "a" * 1022), (2, "b" * 1023)):
            host.call(call_id, "robot", "echo", {"value": text})
            head, body = host.read_raw_frame()
            while head["t"] != "result":
                head, body = host.read_raw_frame()
            if call_id == 1:
                expected = ({"t": "result", "id": 1, "ok": True, "result": text}, b"")
            else:
                expected = ({"t": "result", "id": 2, "ok": True}, json.dumps(text).encode())
            self.assertEqual((head, body), expected)

    def test_args_may_come_as_the_body(self):
        host = self.start_ready(self.PROJECT)
        text = "x" * 5000
        head = json.dumps({"t": "call", "id": 1, "object": "robot", "method": "echo"}).encode()
        body = json.dumps({"value": text}).encode()
        host.conn.sendall(struct.pack(">II", 4 + len(head) + len(body), len(head)) + head + body)
        self.assertEqual(host.result(1)["result"], text)

    def test_head_length_over_the_frame_exits_3(self):
        host = self.start_ready(self.PROJECT)
        host.conn.sendall(struct.pack(">II", 6, 3) + b"{}")
        self.assertEqual(host.wait(), 3)
        self.assertIn(b"head length 3 exceeds the frame length 6", host.stderr)

    def test_length_over_the_limit_exits_3(self):
        host = self.start_ready(self.PROJECT, "--max-frame", "1024")
        host.conn.sendall(struct.pack(">II", 2048, 2) + b"{}")
        self.assertEqual(host.wait(), 3)
        self.assertIn(b"frame length 2048 exceeds the limit of 1024 bytes", host.stderr)

    def test_frame_that_is_not_json_exits_3(self):
        host = self.start_ready(self.PROJECT)
        host.conn.sendall(struct.pack(">II", 7, 3) + b"{x}")
        self.assertEqual(host.wait(), 3)


class SyncProjectFramingTest(FramingTest):
    """The same, read by the host's blocking reader thread rather than its event loop."""

    PROJECT = {"main.py": SYNC_SAMPLE}
