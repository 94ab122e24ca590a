"""Central DP: `--central-dp` wraps the strategy in Flower's server-side DP, which clips and adds noise."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, Message, MessageType, Metadata, MetricRecord, RecordDict
from flwr.serverapp.strategy import (
    DifferentialPrivacyServerSideAdaptiveClipping,
    DifferentialPrivacyServerSideFixedClipping,
    FedAvg,
)

from server.experiment import privacy_summary
from server.strategies import build_strategy
from shared import contract
from shared.config import ConfigError, RunConfig, default_run_config

PARAMETERS = 20_000  # enough values for the noise's standard deviation to be measured within a few %


def _config(**overrides: object) -> RunConfig:
    return RunConfig.from_flower({**default_run_config(), **overrides})


def _arrays(values: np.ndarray) -> ArrayRecord:
    return ArrayRecord({"layer.weight": Array(values.astype(np.float32))})


def _train_reply(hospital: int, arrays: ArrayRecord) -> Message:
    # Explicit metadata: built outside a Flower run, as the SuperLink would hand the reply to the ServerApp.
    metadata = Metadata(
        run_id=1, message_id=f"m{hospital}", src_node_id=hospital, dst_node_id=0, reply_to_message_id="i",
        group_id="1", created_at=0.0, ttl=60.0, message_type=MessageType.TRAIN,
    )  # fmt: skip
    content = RecordDict(
        {contract.ARRAYS: arrays, contract.METRICS: MetricRecord({contract.NUM_EXAMPLES: 100})}
    )
    return Message(content=content, metadata=metadata)


def _aggregate_far_updates(noise: float, clip: float) -> np.ndarray:
    """The global model's change after a round in which two hospitals each moved it 100 units."""
    strategy = build_strategy(
        _config(**{"central-dp": "fixed", "central-dp-noise": noise, "central-dp-clip": clip}), 2
    )
    assert isinstance(strategy, DifferentialPrivacyServerSideFixedClipping)
    assert isinstance(strategy.strategy, FedAvg)
    current = np.zeros(PARAMETERS)
    strategy.current_arrays = _arrays(current)  # what configure_train keeps for the next aggregation
    direction = np.random.default_rng(0).normal(size=PARAMETERS)
    far = 100 * direction / np.linalg.norm(direction)
    replies = [_train_reply(hospital, _arrays(current + far)) for hospital in (1, 2)]
    aggregated, _ = strategy.aggregate_train(1, replies)
    assert aggregated is not None
    return aggregated["layer.weight"].numpy() - current


def test_fixed_clipping_bounds_each_hospitals_update_at_the_server() -> None:
    change = _aggregate_far_updates(noise=0.0, clip=1.0)
    assert np.linalg.norm(change) == pytest.approx(1.0, rel=1e-4)  # each 100-unit update clipped to 1


def test_fixed_clipping_adds_noise_scaled_to_the_clip_and_the_hospitals() -> None:
    noise, clip = 0.5, 1.0
    change = _aggregate_far_updates(noise=noise, clip=clip)
    # Flower's server-side DP adds N(0, (noise * clip / hospitals)^2) to the averaged model
    assert change.std() == pytest.approx(noise * clip / 2, rel=0.05)


def test_adaptive_clipping_starts_at_the_configured_norm() -> None:
    strategy = build_strategy(
        _config(**{"central-dp": "adaptive", "central-dp-noise": 0.2, "central-dp-clip": 5.0}), 3
    )
    assert isinstance(strategy, DifferentialPrivacyServerSideAdaptiveClipping)
    # Flower raises the model's noise so that, with the noise on its clipped-count estimate, the whole release
    # has the privacy of noise 0.2.
    assert strategy.clipping_norm == 5.0 and strategy.noise_multiplier > 0.2


def test_adaptive_clipping_with_too_much_noise_for_the_federation_is_a_clear_error() -> None:
    """With 3 hospitals Flower's adaptive clipping takes noise below 0.3 only (its clipped-count estimate
    needs the rest); the error names the setting and the way out."""
    with pytest.raises(
        ConfigError, match=r"central-dp-noise: 0\.3 is too much .* 3 training hospitals.*fixed"
    ):
        build_strategy(_config(**{"central-dp": "adaptive", "central-dp-noise": 0.3}), 3)


def test_off_leaves_the_strategy_unwrapped_and_results_record_what_was_used() -> None:
    assert isinstance(build_strategy(_config(), 2), FedAvg)
    used = _config(**{"central-dp": "fixed", "central-dp-noise": 0.5, "central-dp-clip": 2.0})
    summary = privacy_summary([], [], used)
    assert (summary["central_dp"], summary["central_dp_noise"], summary["central_dp_clip"]) == (
        "fixed",
        0.5,
        2.0,
    )
    off = privacy_summary([], [], _config())
    assert (off["central_dp"], off["central_dp_noise"], off["central_dp_clip"]) == ("off", None, None)
