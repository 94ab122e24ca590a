"""`cardiofed run` before the federation: the resources asked of Flower, a clear refusal of bad data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from server.launcher import LaunchError, follow_progress, simulation_resources
from server.progress import end_offset


def test_cpu_machine_asks_for_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert simulation_resources("loho", 4) == "num-supernodes=4 client-resources-num-gpus=0.0"


@pytest.mark.parametrize(("protocol", "share"), [("loho", 0.25), ("pooled", 0.25), ("centralized", 1.0)])
def test_cuda_machine_gives_each_hospital_its_share_of_the_gpu(
    monkeypatch: pytest.MonkeyPatch, protocol: str, share: float
) -> None:
    # Ray hides the GPU from a ClientApp that asks for none: without a share, training would fall to the CPU.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert simulation_resources(protocol, 4) == f"num-supernodes=4 client-resources-num-gpus={share}"


def test_a_missing_dataset_is_one_clear_line_and_starts_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-hospitals"
    completed = subprocess.run(
        [sys.executable, "-m", "shared.commands.cli", "run", "--data", str(missing),
         "--out", str(tmp_path / "run")],
        env={**os.environ, "COLUMNS": "500"},  # one line, however long the path
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 1
    assert f"error: {missing}: no such folder" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "run" / "results.json").exists()


def test_a_resumed_run_is_not_ended_by_the_earlier_runs_events(tmp_path: Path) -> None:
    progress = tmp_path / "progress.jsonl"
    progress.write_text(json.dumps({"event": "failed", "message": "the interrupted run"}) + "\n")
    first_event = end_offset(tmp_path)
    with progress.open("a") as log:  # what the resumed run writes
        log.write(json.dumps({"event": "resumed"}) + "\n" + json.dumps({"event": "done"}) + "\n")
    seen: list[str] = []
    flwr_run = subprocess.Popen(["sleep", "30"])  # still running: only "done" can end the wait
    try:
        follow_progress(tmp_path, flwr_run, lambda event: seen.append(event["event"]), first_event)
    finally:
        flwr_run.kill()
        flwr_run.wait()
    assert seen == ["resumed", "done"]
    with pytest.raises(LaunchError, match="the interrupted run"):  # read from the start, it would stop
        follow_progress(tmp_path, flwr_run, None, 0)
