"""The egress guard: only the model's arrays and allow-listed aggregates may leave a hospital."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from federated import FAST_RUN
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    Metadata,
    MetricRecord,
    RecordDict,
)

from client import client_app
from client.audit import AuditLog
from client.egress import EgressViolation, check_reply
from client.summaries import census_metrics
from shared import contract
from shared.config import default_run_config


def _model() -> ArrayRecord:
    return ArrayRecord(
        {"conv.weight": Array(np.zeros((4, 12, 3), np.float32)), "head.bias": Array(np.zeros(1, np.float32))}
    )


def _message(content: RecordDict, message_type: str) -> Message:
    # Explicit metadata: these messages are built outside a Flower run, as a node would receive them.
    metadata = Metadata(
        run_id=1, message_id="m", src_node_id=1, dst_node_id=7, reply_to_message_id="", group_id="",
        created_at=0.0, ttl=60.0, message_type=message_type,
    )  # fmt: skip
    return Message(content=content, metadata=metadata)


def _incoming(message_type: str) -> Message:
    content = RecordDict({contract.ARRAYS: _model(), contract.CONFIG: ConfigRecord({"server-round": 1})})
    return _message(content, message_type)


def _reply(
    incoming: Message, arrays: ArrayRecord | None, metrics: dict, config: dict | None = None
) -> Message:
    records: dict = {contract.METRICS: MetricRecord(metrics)}
    if arrays is not None:
        records[contract.ARRAYS] = arrays
    if config is not None:
        records[contract.CONFIG] = ConfigRecord(config)
    return _message(RecordDict(records), incoming.metadata.message_type)


def test_a_normal_train_and_evaluate_reply_pass() -> None:
    train = _incoming(MessageType.TRAIN)
    check_reply(
        train, _reply(train, _model(), {contract.NUM_EXAMPLES: 40, "train-loss": 0.4, "dp-epsilon": 1.2})
    )
    evaluate = _incoming(MessageType.EVALUATE)
    histograms = {
        contract.histogram_key("mi", 0, "pos"): [0, 3],
        contract.histogram_key("mi", 0, "neg", "sex=male"): [1, 1],
    }
    check_reply(evaluate, _reply(evaluate, None, {contract.NUM_EXAMPLES: 40, **histograms}))


def test_an_extra_array_is_blocked() -> None:
    train = _incoming(MessageType.TRAIN)
    arrays = _model()
    arrays["signals"] = Array(np.zeros((40, 12, 1000), np.float32))
    with pytest.raises(EgressViolation, match="'signals' is not part of the model"):
        check_reply(train, _reply(train, arrays, {contract.NUM_EXAMPLES: 40}))


def test_an_array_of_another_shape_is_blocked() -> None:
    train = _incoming(MessageType.TRAIN)
    arrays = _model()
    arrays["head.bias"] = Array(np.zeros(40, np.float32))  # e.g. one value per record
    with pytest.raises(EgressViolation, match=r"'head\.bias' has shape"):
        check_reply(train, _reply(train, arrays, {contract.NUM_EXAMPLES: 40}))


def test_arrays_never_leave_with_an_evaluate_reply() -> None:
    evaluate = _incoming(MessageType.EVALUATE)
    with pytest.raises(EgressViolation, match="may not leave in a evaluate reply"):
        check_reply(evaluate, _reply(evaluate, _model(), {contract.NUM_EXAMPLES: 40}))


@pytest.mark.parametrize("key", ["scores", "hist/mi/0/pos/patient-17", "record-ids", "age-mean"])
def test_a_metric_outside_the_allow_list_is_blocked(key: str) -> None:
    evaluate = _incoming(MessageType.EVALUATE)
    with pytest.raises(EgressViolation, match="is not an allowed aggregate"):
        check_reply(evaluate, _reply(evaluate, None, {contract.NUM_EXAMPLES: 40, key: [0.9, 0.1]}))


def test_a_config_fact_outside_the_allow_list_is_blocked() -> None:
    query = _incoming(MessageType.QUERY)
    with pytest.raises(EgressViolation, match="'patient-ids' is not allowed"):
        check_reply(query, _reply(query, None, {}, {"hospital": "0", "patient-ids": ["p1"]}))


def _hospital_context(data: Path, run_dir: Path) -> Context:
    """The context Flower's simulation gives the first virtual hospital of a run over `data`."""
    run_config = {**default_run_config(), **FAST_RUN, "data-path": str(data), "run-dir": str(run_dir)}
    return Context(
        run_id=1, node_id=7, node_config={"partition-id": 0}, state=RecordDict(), run_config=run_config
    )


def _census_reply(
    census: Any, data: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Message, list[dict[str, Any]]]:
    """The real ClientApp's reply to a census query with aggregates from `census`, and the audit log."""
    monkeypatch.setattr(client_app, "census_metrics", census)
    context = _hospital_context(data, run_dir)
    reply = client_app.app(
        _message(RecordDict({contract.CONFIG: ConfigRecord({})}), MessageType.QUERY), context
    )
    hospital_dir = next((run_dir / "hospitals").iterdir())
    return reply, AuditLog(hospital_dir).entries()


def test_the_client_app_withholds_a_bad_reply_and_logs_it(
    synthetic_hospitals: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def leaky(*args: Any) -> dict[str, Any]:
        return {**census_metrics(*args), "record-ids": [17, 18]}

    reply, (entry,) = _census_reply(leaky, synthetic_hospitals, tmp_path, monkeypatch)
    assert reply.has_error() and "withheld the reply: metric 'record-ids'" in reply.error.reason
    assert entry["type"] == MessageType.QUERY and "'record-ids'" in entry["blocked"]
    assert entry["metric_keys"] == [] and entry["error"] == reply.error.reason


def test_the_client_app_guards_and_logs_its_errors(
    synthetic_hospitals: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: Any) -> dict[str, Any]:
        raise ValueError("record 17 of patient 4 is unreadable")

    reply, (entry,) = _census_reply(failing, synthetic_hospitals, tmp_path, monkeypatch)
    assert reply.error.reason == "ValueError: record 17 of patient 4 is unreadable"
    assert entry["error"] == reply.error.reason and "blocked" not in entry

    def dumping(*args: Any) -> dict[str, Any]:
        raise ValueError("ages:\n" + "\n".join(str(age) for age in range(40, 90)))

    reply, (_, entry) = _census_reply(dumping, synthetic_hospitals, tmp_path, monkeypatch)
    assert "withheld the reply: error reason holds line breaks" in reply.error.reason
    assert "\n" not in reply.error.reason and "blocked" in entry
