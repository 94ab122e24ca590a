"""The process in which an approved app's ClientApp answers one run's messages (started by client/gate.py).

    python -I clientapp_process.py APP_DIR FAB_ID FAB_VERSION FAB_HASH

The hospital's gate has already checked the app's hash against the hospital's approvals and unpacked the
bundle into APP_DIR. This process loads the ClientApp from APP_DIR with Flower's own loader, once, and then
answers each message the gate writes to its stdin with a reply on its stdout (frames, below) until stdin
closes. It never talks to the SuperNode and holds no token. It is run as a script in isolated mode (`-I`) and
imports nothing but Flower, so the app's own `client`, `server` and `shared` packages are the ones it runs,
never the hospital's installed copies, and the hospital's guard and audit code stay in the gate's process
where the app cannot reach them. One process serves one run of one app: the gate never hands it another's.
"""

import os
import sys
from typing import IO

from flwr.app import Context, Error, Message
from flwr.clientapp import ClientApp
from flwr.clientapp.utils import get_load_client_app_fn
from flwr.common.constant import ErrorCode
from flwr.common.serde import context_from_proto, context_to_proto, message_from_proto, message_to_proto
from flwr.proto.message_pb2 import Context as ProtoContext  # pylint: disable=E0611
from flwr.proto.message_pb2 import Message as ProtoMessage  # pylint: disable=E0611
from flwr.supercore.app_utils import start_parent_process_monitor

#: Bytes of the big-endian length that precedes every frame.
FRAME_HEADER = 4


def encode(message: Message, context: Context) -> list[bytes]:
    """A message and its run's context as the two frames that carry them, either way."""
    return [message_to_proto(message).SerializeToString(), context_to_proto(context).SerializeToString()]


def decode(frames: list[bytes]) -> tuple[Message, Context]:
    """The message and context of two frames written by `encode`."""
    message = message_from_proto(ProtoMessage.FromString(frames[0]))
    return message, context_from_proto(ProtoContext.FromString(frames[1]))


def write_frames(stream: IO[bytes], frames: list[bytes]) -> None:
    """Write each frame as its length and its bytes, then flush."""
    for frame in frames:
        stream.write(len(frame).to_bytes(FRAME_HEADER, "big") + frame)
    stream.flush()


def read_frames(stream: IO[bytes], count: int) -> list[bytes] | None:
    """The next `count` frames; None when the stream ended cleanly before the first."""
    frames: list[bytes] = []
    for _ in range(count):
        header = stream.read(FRAME_HEADER)
        if not header and not frames:
            return None
        size = int.from_bytes(header, "big") if len(header) == FRAME_HEADER else -1
        frame = stream.read(size) if size >= 0 else b""
        if size < 0 or len(frame) != size:
            raise EOFError("the stream ended inside a frame")
        frames.append(frame)
    return frames


def main(argv: list[str]) -> int:
    """Answer every message on stdin with the ClientApp of APP_DIR; 0 when stdin closed cleanly."""
    start_parent_process_monitor(os.getppid())  # the gate is gone: nobody would send the replies
    app_dir, fab_id, fab_version, fab_hash = argv
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # what the app prints goes to the log, not the replies
    load = get_load_client_app_fn(default_app_ref="", app_path=app_dir, multi_app=True)
    app: ClientApp | None = None
    while (frames := read_frames(sys.stdin.buffer, 2)) is not None:
        message, context = decode(frames)
        try:
            app = app or load(fab_id, fab_version, fab_hash)
            reply = app(message=message, context=context)
        except Exception as error:  # the app's failure becomes an error reply, as Flower's own process does
            reason = f"{type(error).__name__}: {error}"
            error_reply = Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason)
            reply = Message(error_reply, reply_to=message)
        write_frames(replies, encode(reply, context))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
