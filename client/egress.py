"""The egress guard: nothing leaves the hospital unless the message contract allows it.

Checked on every reply before Flower sends it: arrays only in train replies and only the very tensors the
coordinator sent (same names, shapes and dtypes, i.e. the model), metrics only under allow-listed keys
(`shared.contract`), short facts only under allow-listed config keys, and no other record at all.
"""

from __future__ import annotations

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord

from shared import contract


class EgressViolation(RuntimeError):
    """A reply tried to carry something the message contract does not allow; it was not sent."""


def check_reply(incoming: Message, reply: Message) -> None:
    """Raise EgressViolation naming the offending key when `reply` carries anything not allowed."""
    if reply.has_error():
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
