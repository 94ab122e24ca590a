"""The process in which an approved app's ClientApp answers one message (started by client/gate.py).

    python -I clientapp_process.py EXCHANGE_DIR APP_DIR FAB_ID FAB_VERSION FAB_HASH

The hospital's gate has already pulled the message, checked the app's hash against the hospital's approvals
and unpacked the bundle into APP_DIR. This process loads the ClientApp from APP_DIR with Flower's own
loader, hands it the message and writes the reply back; it never talks to the SuperNode and holds no token.
It is run as a script in isolated mode (`-I`) and imports nothing but Flower, so the app's own `client`,
`server` and `shared` packages are the ones it runs, never the hospital's installed copies, and the
hospital's guard and audit code stay in the gate's process where the app cannot reach them.
"""

import os
import sys
from pathlib import Path

from flwr.app import Error, Message
from flwr.clientapp.utils import get_load_client_app_fn
from flwr.common.constant import ErrorCode
from flwr.common.serde import context_from_proto, context_to_proto, message_from_proto, message_to_proto
from flwr.proto.message_pb2 import Context as ProtoContext  # pylint: disable=E0611
from flwr.proto.message_pb2 import Message as ProtoMessage  # pylint: disable=E0611
from flwr.supercore.app_utils import start_parent_process_monitor

#: File names inside EXCHANGE_DIR (the gate writes the first two and reads the last two).
MESSAGE_IN, CONTEXT_IN, REPLY_OUT, CONTEXT_OUT = "message.pb", "context.pb", "reply.pb", "context-out.pb"


def main(argv: list[str]) -> int:
    """Answer the message in EXCHANGE_DIR with the ClientApp of APP_DIR; 0 when a reply was written."""
    start_parent_process_monitor(os.getppid())  # the gate is gone: nobody would send the reply
    exchange, app_dir = Path(argv[0]), Path(argv[1])
    fab_id, fab_version, fab_hash = argv[2], argv[3], argv[4]
    message = message_from_proto(ProtoMessage.FromString((exchange / MESSAGE_IN).read_bytes()))
    context = context_from_proto(ProtoContext.FromString((exchange / CONTEXT_IN).read_bytes()))
    try:
        load = get_load_client_app_fn(default_app_ref="", app_path=str(app_dir), multi_app=True)
        reply = load(fab_id, fab_version, fab_hash)(message=message, context=context)
    except Exception as error:  # the app's failure becomes an error reply, as Flower's own process does
        reason = f"{type(error).__name__}: {error}"
        reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=message)
    (exchange / REPLY_OUT).write_bytes(message_to_proto(reply).SerializeToString())
    (exchange / CONTEXT_OUT).write_bytes(context_to_proto(context).SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
