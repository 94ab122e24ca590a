"""The egress guard: nothing leaves the hospital unless the message contract allows it.

Checked on every reply before Flower sends it: arrays only in train replies and only the very tensors the
coordinator sent (same names, shapes and dtypes, i.e. the model), metrics only under allow-listed keys
(`shared.contract`), short facts only under allow-listed config keys, and no other record at all. An error
reply may carry only a short one-line reason (`contract.MAX_ERROR_REASON_CHARS`): an exception's message
is written by code, and code can put data in it.
"""

from __future__ import annotations

from flwr.app import ArrayRecord, ConfigRecord, Error, Message, MessageType, MetricRecord
from flwr.common.constant import ErrorCode

from client.audit import AuditLog, message_facts, message_footprint
from shared import contract


class EgressViolation(RuntimeError):
    """A reply tried to carry something the message contract does not allow; it was not sent."""


def check_reply(incoming: Message, reply: Message) -> None:
    """Raise EgressViolation naming the offending key when `reply` carries anything not allowed."""
    if reply.has_error():
        _check_error_reason(reply.error.reason or "")
        return
    sent_model = _model_signature(incoming)
    for name, record in reply.content.items():
        if isinstance(record, ArrayRecord):
            _check_arrays(name, record, incoming.metadata.message_type, sent_model)
        elif isinstance(record, MetricRecord):
            for key in record:
                if not contract.is_allowed_metric(key):
                    raise EgressViolation(f"metric {key!r} is not an allowed aggregate")
        elif isinstance(record, ConfigRecord):
            for key in record:
                if key not in contract.ALLOWED_CONFIG_KEYS:
                    raise EgressViolation(f"config entry {key!r} is not allowed to leave the hospital")
        else:
            raise EgressViolation(f"record {name!r} of type {type(record).__name__} is not allowed")


def guarded_reply(hospital: str, audit: AuditLog, message: Message, reply: Message) -> Message:
    """The reply as it may leave: checked, then logged; a blocked reply becomes an error that says so."""
    facts = message_facts(message)
    try:
        check_reply(message, reply)
    except EgressViolation as violation:
        reason = f"hospital {hospital}'s egress guard withheld the reply: {violation}"
        limit = contract.MAX_ERROR_REASON_CHARS
        withheld = Message(Error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason[:limit]), reply_to=message)
        audit.record(**facts, blocked=str(violation), **message_footprint(withheld))
        return withheld
    audit.record(**facts, **message_footprint(reply))
    return reply


def _model_signature(incoming: Message) -> dict[str, tuple[tuple[int, ...], str]]:
    arrays = incoming.content.array_records.get(contract.ARRAYS)
    if arrays is None:
        return {}
    return {key: (tuple(array.shape), array.dtype) for key, array in arrays.items()}


def _check_arrays(
    name: str, record: ArrayRecord, message_type: str, sent_model: dict[str, tuple[tuple[int, ...], str]]
) -> None:
    if message_type != MessageType.TRAIN or name != contract.ARRAYS:
        raise EgressViolation(f"array record {name!r} may not leave in a {message_type} reply")
    outgoing = {key: (tuple(array.shape), array.dtype) for key, array in record.items()}
    extra = sorted(set(outgoing) - set(sent_model))
    if extra:
        raise EgressViolation(f"array {extra[0]!r} is not part of the model the coordinator sent")
    missing = sorted(set(sent_model) - set(outgoing))
    if missing:
        raise EgressViolation(f"array {missing[0]!r} of the model is missing from the update")
    for key, signature in outgoing.items():
        if signature != sent_model[key]:
            raise EgressViolation(
                f"array {key!r} has shape/dtype {signature}, the model's is {sent_model[key]}"
            )


def _check_error_reason(reason: str) -> None:
    if len(reason) > contract.MAX_ERROR_REASON_CHARS:
        raise EgressViolation(
            f"error reason of {len(reason)} characters is longer than {contract.MAX_ERROR_REASON_CHARS}"
        )
    if not reason.isprintable():
        raise EgressViolation("error reason holds line breaks or control characters")
