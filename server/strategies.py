"""Flower strategies by name, optionally wrapped in Flower's server-side differential privacy."""

from __future__ import annotations

from typing import Any

from flwr.serverapp.strategy import (
    DifferentialPrivacyServerSideAdaptiveClipping,
    DifferentialPrivacyServerSideFixedClipping,
    FedAdam,
    FedAvg,
    FedAvgM,
    FedMedian,
    FedProx,
    FedTrimmedAvg,
    FedYogi,
    Krum,
    Strategy,
)

from shared import contract
from shared.config import ConfigError, RunConfig


def build_strategy(config: RunConfig, training_hospitals: int) -> Strategy:
    """The configured aggregation for one federation of `training_hospitals` nodes, weighted by examples.

    Every training hospital takes part in every round (fraction 1.0, minimum = all of them): in a clinical
    study each site's data counts, and a round that loses a hospital records it rather than resampling.
    """
    common: dict[str, Any] = {
        "fraction_train": 1.0,
        "fraction_evaluate": 0.0,  # evaluation rounds are driven by the protocol, not the strategy
        "min_train_nodes": training_hospitals,
        "min_available_nodes": training_hospitals,
        "weighted_by_key": contract.NUM_EXAMPLES,
        "arrayrecord_key": contract.ARRAYS,
        "configrecord_key": contract.CONFIG,
    }
    name = config.strategy
    strategy: Strategy
    if name == "fedavg":
        strategy = FedAvg(**common)
    elif name == "fedprox":
        strategy = FedProx(**common, proximal_mu=config.proximal_mu)
    elif name == "fedadam":
        strategy = FedAdam(**common, eta=config.server_learning_rate, eta_l=config.learning_rate)
    elif name == "fedyogi":
        strategy = FedYogi(**common, eta=config.server_learning_rate, eta_l=config.learning_rate)
    elif name == "fedavgm":
        strategy = FedAvgM(**common, server_learning_rate=1.0, server_momentum=0.9)
    elif name == "fedmedian":
        strategy = FedMedian(**common)
    elif name == "fedtrimmedavg":
        strategy = FedTrimmedAvg(**common, beta=0.2)
    elif name == "krum":
        # Krum tolerates f malicious nodes when n > 2f + 2; assume the largest f the federation allows.
        strategy = Krum(**common, num_malicious_nodes=max(0, (training_hospitals - 3) // 2))
    else:  # RunConfig validated the name; reaching this is a programming error
        raise AssertionError(f"unhandled strategy {name}")
    if config.central_dp == "fixed":
        return DifferentialPrivacyServerSideFixedClipping(
            strategy,
            noise_multiplier=config.central_dp_noise,
            clipping_norm=config.central_dp_clip,
            num_sampled_clients=training_hospitals,
        )
    if config.central_dp == "adaptive":
        try:
            return DifferentialPrivacyServerSideAdaptiveClipping(
                strategy,
                noise_multiplier=config.central_dp_noise,
                num_sampled_clients=training_hospitals,
                initial_clipping_norm=config.central_dp_clip,
            )
        except ValueError as error:
            # Flower spends part of the noise on its estimate of how many updates were clipped, which leaves
            # room only for small noise in a federation of a few hospitals; say so in the run's own terms.
            raise ConfigError(
                f"central-dp-noise: {config.central_dp_noise:g} is too much for adaptive clipping with "
                f"{training_hospitals} training hospitals ({error}); lower it or use --central-dp fixed"
            ) from error
    return strategy
