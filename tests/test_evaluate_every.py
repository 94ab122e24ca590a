"""`evaluate-every`: validation rounds every N rounds (and after the last) instead of after every round."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.config import ConfigError, RunConfig, default_run_config


def _config(**overrides: Any) -> RunConfig:
    return RunConfig.from_flower({**default_run_config(), **overrides})


def test_validation_rounds_are_every_nth_and_the_last() -> None:
    config = _config(rounds=7, **{"evaluate-every": 3})
    assert [r for r in range(1, 8) if config.validates_after(r)] == [3, 6, 7]
    every_round = _config(rounds=3)  # the default: validate after every round
    assert all(every_round.validates_after(r) for r in (1, 2, 3))


@pytest.mark.parametrize("value", [0, -1, 1.5, "2"])
def test_evaluate_every_must_be_a_positive_integer(value: Any) -> None:
    with pytest.raises(ConfigError, match="evaluate-every"):
        _config(**{"evaluate-every": value})


def _audit(run_dir: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((run_dir / "hospitals").glob("*/audit.jsonl"))
        for line in path.read_text().splitlines()
    ]


@pytest.mark.slow
def test_pooled_run_validates_only_when_asked(pooled_run: tuple[Path, dict[str, Any]]) -> None:
    run_dir, results = pooled_run
    assert results["config"]["evaluate_every"] == 2 and results["config"]["rounds"] == 2
    audit = _audit(run_dir)
    hospitals = len(results["hospitals"])
    # no validation after round 1; validation after round 2 (the last), then the test evaluation
    assert sum(entry["type"] == "evaluate" for entry in audit) == hospitals * (1 + 1)
    assert sum(entry["type"] == "train" for entry in audit) == hospitals * 2
    assert [r["pooled_validation_auroc"] is not None for r in results["rounds"]] == [False, True]
    # the final metrics are complete: the threshold transfer needs the last round's validation
    assert {"pooled", "per_hospital", "histograms", "subgroups"} <= set(results["metrics"])
    assert results["metrics"]["pooled"]["mi"]["transfer"]["threshold"] is not None
    # every train message brings the model in and takes it back out: the audit log counts both ways
    for entry in audit:
        if entry["type"] == "train":
            assert entry["received_bytes"] >= entry["array_bytes"] > 0
            assert entry["sent_bytes"] >= entry["array_bytes"]
