"""The chunked upload: ``upload_begin``, binary chunks, and the deploy's outcome as the
second reply to ``upload_begin``. It resumes from the offset the agent reports after a
dropped link (the client reconnects) or a stall."""

import asyncio
import hashlib
import json
import os
import struct
import time

from ._errors import RobotConnectionError, RobotError
from ._zip import zip_folder

CHUNK_MAGIC = b"RAC1"
MAX_PASSES = 20
STALL_S = 30.0
_RETRY = object()


def encode_chunk(upload_id, offset, data, chunk_id=None):
    """A binary chunk message: "RAC1", a 4-byte big-endian header length, a JSON header,
    then the bytes."""
    header = {"upload_id": upload_id, "offset": offset}
    if chunk_id is not None:
        header["id"] = chunk_id
    encoded = json.dumps(header).encode()
    return CHUNK_MAGIC + struct.pack(">I", len(encoded)) + encoded + bytes(data)


def read_project(project):
    """The zip to deploy: bytes as they are, a zip file read, a folder zipped."""
    if isinstance(project, (bytes, bytearray, memoryview)):
        return bytes(project)
    path = os.fspath(project)
    if os.path.isdir(path):
        return zip_folder(path)
    with open(path, "rb") as handle:
        return handle.read()


class _Upload:
    def __init__(self, robot, data, on_progress, chunk_size):
        self.robot = robot
        self.data = data
        self.sha = hashlib.sha256(data).hexdigest()
        self.on_progress = on_progress
        self.chunk_size = chunk_size
        self.received = 0
        self.last_byte_sent = False
        self.last_chunk_at = float("inf")
        self.started = None
        self.outcome = asyncio.get_event_loop().create_future()
        self.wake = asyncio.Event()
        # The outcome futures of every pass: any of them may bring the deploy's outcome.
        self.pending = []

    def report(self, phase):
        if self.on_progress is None:
            return
        total = len(self.data)
        received = total if phase == "deploying" else self.received
        elapsed = time.monotonic() - self.started[0] if self.started else 0
        moved = received - self.started[1] if self.started else 0
        rate = moved / elapsed if elapsed > 0.05 and moved > 0 else 0.0
        eta = (total - received) / rate if rate > 0 else None
        self.on_progress({
            "phase": phase, "received": received, "total": total,
            "bytes_per_second": rate, "eta_seconds": eta,
        })

    def on_event(self, event):
        data = event.data if isinstance(event.data, dict) else {}
        if data.get("upload_id") != self.sha or data.get("received", 0) <= self.received:
            return
        self.received = data["received"]
        self.report("deploying" if self.received >= self.last_chunk_at else "uploading")
        self.wake.set()

    def lost(self, lost):
        if not lost.is_set():
            lost.set()
            self.report("interrupted")

    def on_outcome(self, future):
        if self.outcome.done() or future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self.outcome.set_exception(error)
            return
        message = future.result()
        if message.get("status") == "error":
            self.outcome.set_exception(
                RobotError(message.get("code", "INTERNAL"), message.get("message"), message.get("data"))
            )
        else:
            self.outcome.set_result(message.get("data"))

    async def run(self):
        try:
            for _ in range(MAX_PASSES):
                await self.robot.wait_open()
                # A resumed session's kept replies arrive before the handshake's: let them land.
                await asyncio.sleep(0)
                if self.outcome.done():
                    break
                one = asyncio.ensure_future(self.one_pass())
                done, _ = await asyncio.wait({one, self.outcome}, return_when=asyncio.FIRST_COMPLETED)
                if self.outcome in done:
                    one.cancel()
                    break
                if one.result() is not _RETRY:
                    break
            if not self.outcome.done():
                raise RobotError("UPLOAD_ERROR", "Cannot upload: {} attempts failed".format(MAX_PASSES))
            return self.outcome.result()
        finally:
            for rid, future in self.pending:
                self.robot.drop_reply(rid, future)

    async def one_pass(self):
        robot = self.robot
        lost = asyncio.Event()
        lost_task = asyncio.ensure_future(lost.wait())
        stop_watching = robot.on_connection(lambda kind, error: kind != "reconnect" and self.lost(lost))
        stop_listening = robot.add_listener(self.on_event, "upload_progress")
        bid = robot.next_id("upload")
        chunk_id = bid + ".chunk"
        begin = robot.wait_reply(bid)
        outcome = robot.wait_reply(bid)
        outcome.add_done_callback(self.on_outcome)
        self.pending.append((bid, outcome))
        refused = robot.wait_reply(chunk_id)
        try:
            params = {"size": len(self.data), "sha256": self.sha}
            await robot.send_text(json.dumps({"command": "upload_begin", "id": bid, "params": params}))
            if await _race([begin, lost_task]) is lost_task:
                return _RETRY
            message = begin.result()
            if message.get("status") == "error":
                raise RobotError(message.get("code", "INTERNAL"), message.get("message"), message.get("data"))
            return await self.send_chunks(message.get("data") or {}, chunk_id, lost_task, refused)
        finally:
            lost_task.cancel()
            robot.drop_reply(bid, begin)
            robot.drop_reply(chunk_id, refused)
            stop_watching()
            stop_listening()

    async def send_chunks(self, info, chunk_id, lost, refused):
        size = len(self.data)
        offset = int(info.get("offset", 0))
        chunk = max(1, min(self.chunk_size, int(info.get("max_chunk_bytes", self.chunk_size))))
        self.received = offset
        self.last_chunk_at = float("inf")
        if self.started is None:
            self.started = (time.monotonic(), offset)
        if offset > 0:
            self.report("resumed")
        # Everything is on the robot, but no pass of ours sent the last byte: an empty
        # chunk at the end completes it.
        if offset == size and not self.last_byte_sent and not await self.send(offset, size, chunk_id):
            return _RETRY
        while offset < size:
            while offset - self.received >= 4 * chunk:
                self.wake.clear()
                woken = asyncio.ensure_future(self.wake.wait())
                try:
                    first = await _race([woken, lost, refused], timeout=STALL_S)
                finally:
                    woken.cancel()
                if first is refused:
                    return self.refusal(refused)
                if first is not woken:
                    return _RETRY
            end = min(size, offset + chunk)
            if not await self.send(offset, end, chunk_id):
                return _RETRY
            offset = end
        # The last chunk is answered by the outcome, not by progress: past its start, the
        # zip is on its way to being deployed.
        start = min(int(info.get("offset", 0)), size - 1)
        self.last_chunk_at = start + (size - 1 - start) // chunk * chunk
        if self.received >= self.last_chunk_at:
            self.report("deploying")
        # The outcome ends the upload (run() waits for it); this pass ends on a refusal.
        if await _race([refused, lost]) is refused:
            return self.refusal(refused)
        return _RETRY

    def refusal(self, refused):
        message = refused.result()
        if message.get("code") == "UPLOAD_ERROR":
            return _RETRY
        raise RobotError(message.get("code", "INTERNAL"), message.get("message"), message.get("data"))

    async def send(self, start, end, chunk_id):
        try:
            await self.robot.send_binary(encode_chunk(self.sha, start, self.data[start:end], chunk_id))
        except RobotConnectionError:
            return False
        if end == len(self.data):
            self.last_byte_sent = True
        return True


async def _race(futures, timeout=None):
    """The first of ``futures`` to finish (None after ``timeout`` seconds)."""
    done, _ = await asyncio.wait(set(futures), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    return next(iter(done)) if done else None


async def upload_zip(robot, data, on_progress=None, chunk_size=1 << 20):
    """Uploads and deploys ``data`` (zip bytes); returns the deploy's outcome."""
    return await _Upload(robot, data, on_progress, chunk_size).run()
