"""A hospital that sends a malformed update is rejected before aggregation; the round goes on with the rest.

The hospitals run the real ClientApp in process (Flower's `ClientApp.__call__`, the code path a SuperNode
runs for each message), behind a Grid that delivers the coordinator's messages to them. The saboteur's
honest reply is then corrupted the ways a broken or hostile site could send it, and `Federation` must
reject it and aggregate the other two: no product code knows about the corruption.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pytest
import torch
from flwr.app import Array, ArrayRecord, Context, Message, RecordDict
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.supercore.task_identity import TaskIdentity

from client.client_app import app as client_app
from server.census import HospitalNode, run_census
from server.federation import Federation
from server.strategies import build_strategy
from shared import contract
from shared.config import RunConfig, default_run_config
from shared.data.synthetic import generate_hospitals
from shared.experiment import build_model

HOSPITALS = ("east", "north", "south")
SABOTEUR = "south"


class InProcessGrid:
    """Delivers each message to the addressed hospital's ClientApp in this process; `tamper` edits replies."""

    def __init__(self, node_configs: dict[int, dict[str, str]], run_config: dict) -> None:
        self.node_configs = node_configs
        self.run_config = run_config
        self.tamper: Callable[[Message], Message] = lambda reply: reply
        self.honest_replies: dict[tuple[int, str], Message] = {}

    def get_node_ids(self) -> list[int]:
        return sorted(self.node_configs)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> list[Message]:
        replies = []
        for message in messages:
            node_id = message.metadata.dst_node_id
            # Every test sends the same request, so each hospital trains once and its reply is reused.
            key = (node_id, message.metadata.message_type)
            if key not in self.honest_replies:
                context = Context(1, node_id, dict(self.node_configs[node_id]), RecordDict(), self.run_config)
                self.honest_replies[key] = client_app(message, context)
            reply = self.honest_replies[key]
            replies.append(
                self.tamper(reply) if self.node_configs[node_id]["hospital"] == SABOTEUR else reply
            )
        return replies


Setup = tuple[InProcessGrid, RunConfig, dict[str, HospitalNode], ArrayRecord]


def _with_arrays(reply: Message, edit: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]) -> Message:
    arrays = {key: array.numpy().copy() for key, array in reply.content[contract.ARRAYS].items()}
    content = RecordDict(
        {
            contract.ARRAYS: ArrayRecord({k: Array(v) for k, v in edit(arrays).items()}),
            contract.METRICS: reply.content[contract.METRICS],
        }
    )
    return Message(content=content, metadata=reply.metadata)  # the same reply, other arrays


def _first_weight(arrays: dict[str, np.ndarray]) -> str:
    return next(k for k, v in arrays.items() if v.dtype.kind == "f" and v.ndim > 1)


def _nan(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays[_first_weight(arrays)].flat[0] = np.nan
    return arrays


def _inf(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays[_first_weight(arrays)].flat[-1] = np.inf
    return arrays


def _wrong_shape(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    key = _first_weight(arrays)
    arrays[key] = arrays[key][..., :1]
    return arrays


def _missing(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    del arrays[_first_weight(arrays)]
    return arrays


def _absurd_norm(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    key = _first_weight(arrays)
    arrays[key] = arrays[key] * 1e6
    return arrays


@pytest.fixture(scope="module")
def coordinator_identity() -> Iterator[None]:
    """Who creates messages in this process: what Flower sets up in a real ServerApp process."""
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, SUPERLINK_NODE_ID, 1
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, coordinator_identity: None) -> Setup:
    root = tmp_path_factory.mktemp("malformed")
    node_configs = {}
    for seed, hospital in enumerate(HOSPITALS):
        data = root / hospital
        generate_hospitals(data, hospitals=1, records_per_hospital=24, seed=seed, sample_rate=100)
        node_configs[100 + seed] = {
            "hospital": hospital, "data-path": str(data), "state-dir": str(root / "state" / hospital)
        }  # fmt: skip
    run_config = {
        **default_run_config(), "model": "resnet1d", "sample-rate": 100, "batch-size": 16,
        "run-dir": str(root / "run"), "max-update-norm": 1000.0,
    }  # fmt: skip
    grid = InProcessGrid(node_configs, run_config)
    nodes, problems = run_census(grid, {"server-round": 0}, expected=3, timeout_s=5.0)  # type: ignore[arg-type]
    assert not problems and sorted(nodes) == list(HOSPITALS)
    config = RunConfig.from_flower(run_config)
    torch.manual_seed(0)
    model = build_model(config, clinical_features=len(nodes["east"].clinical_names))
    return grid, config, nodes, ArrayRecord(model.state_dict())


@pytest.mark.parametrize(
    ("corruption", "reason"),
    [
        (_nan, "contains NaN or Inf"),
        (_inf, "contains NaN or Inf"),
        (_wrong_shape, "has shape"),
        (_missing, "update lacks array"),
        (_absurd_norm, "exceeds the limit"),
    ],
)
def test_malformed_update_is_rejected_and_the_round_goes_on(
    setup: Setup,
    corruption: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    reason: str,
) -> None:
    grid, config, nodes, global_arrays = setup
    grid.tamper = lambda reply: _with_arrays(reply, corruption)
    federation = Federation(grid, nodes, timeout_s=5.0)  # type: ignore[arg-type]

    aggregated, report = federation.train_round(
        build_strategy(config, len(HOSPITALS)), 1, global_arrays, list(HOSPITALS),
        {"server-round": 1, "planned-rounds": 1}, config.max_update_norm,
    )  # fmt: skip

    assert reason in report.rejected.get(SABOTEUR, ""), report
    assert sorted(report.metrics) == ["east", "north"]
    assert aggregated is not None
    assert all(np.all(np.isfinite(array.numpy())) for array in aggregated.values())
    assert set(aggregated) == set(global_arrays)


def test_honest_replies_pass(setup: Setup) -> None:
    """Control: the same round without tampering aggregates all three hospitals."""
    grid, config, nodes, global_arrays = setup
    grid.tamper = lambda reply: reply
    federation = Federation(grid, nodes, timeout_s=5.0)  # type: ignore[arg-type]
    _, report = federation.train_round(
        build_strategy(config, len(HOSPITALS)), 1, global_arrays, list(HOSPITALS),
        {"server-round": 1, "planned-rounds": 1}, config.max_update_norm,
    )  # fmt: skip
    assert not report.rejected and sorted(report.metrics) == list(HOSPITALS)
