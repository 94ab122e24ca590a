"""End-to-end federated runs: real `flwr run` simulations of the ServerApp and ClientApp.

The suite's synthetic hospitals and its shared LOHO run come from tests/conftest.py; every run is a real
SuperLink in simulation mode with one virtual SuperNode per hospital.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from federated import FAST_RUN, HOSPITAL_IDS, LOHO_HOSPITAL_IDS, federated_run

from server.evaluation import histogram_from_stored
from shared import contract
from shared.config import RunConfig, default_run_config
from shared.experiment import build_model, derive_seed
from shared.metrics import bin_edges
from shared.model_file import load_model_file
from shared.processes import members, sessions_of, stop_sessions

pytestmark = pytest.mark.slow


def _audit(run_dir: Path, hospital: str) -> list[dict[str, Any]]:
    path = run_dir / "hospitals" / hospital / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_loho_results_have_every_key(loho_run: tuple[Path, dict[str, Any]]) -> None:
    _, results = loho_run
    assert {"protocol", "model", "task", "config", "hospitals", "folds"} <= set(results)
    assert results["protocol"] == "loho" and results["model"] == "resnet1d" and results["task"] == "mi"
    assert sorted(results["hospitals"]) == list(LOHO_HOSPITAL_IDS)
    assert [fold["held_out"] for fold in results["folds"]] == list(LOHO_HOSPITAL_IDS)
    operating_keys = {"sensitivity", "specificity", "ppv", "npv", "f1_weighted"}
    for fold in results["folds"]:
        assert fold["held_out"] not in fold["trained_on"]
        assert len(fold["trained_on"]) == len(LOHO_HOSPITAL_IDS) - 1
        assert [r["round"] for r in fold["rounds"]] == [1, 2]
        for record in fold["rounds"]:
            assert record["held_out_auroc"] is not None
            # the training hospitals and no other trained, and none of them failed
            assert record["trained"] == fold["trained_on"] and record["failed"] == {}
            assert set(record["validation_auroc"]) == set(fold["trained_on"])
        metrics = fold["held_out_metrics"]["mi"]
        expected = {"auroc", "auprc", "youden_threshold", "n", "positives", "transfer"} | operating_keys
        assert expected <= set(metrics)
        assert operating_keys <= set(metrics["transfer"])
        census = results["hospitals"][fold["held_out"]]["census"]
        assert metrics["n"] == census["records"]["all"]


def test_held_out_hospital_never_trains_in_its_fold(loho_run: tuple[Path, dict[str, Any]]) -> None:
    run_dir, results = loho_run
    for hospital in results["hospitals"]:
        entries = _audit(run_dir, hospital)
        trained_folds = {e["fold"] for e in entries if e["type"] == "train"}
        evaluated_folds = {e["fold"] for e in entries if e["type"] == "evaluate"}
        assert hospital not in trained_folds
        assert hospital in evaluated_folds  # it did take part in its fold, by evaluation only
        assert trained_folds == {h for h in results["hospitals"] if h != hospital}


def test_nothing_but_model_and_aggregates_left_any_hospital(loho_run: tuple[Path, dict[str, Any]]) -> None:
    run_dir, results = loho_run
    model_bytes = None
    for hospital in results["hospitals"]:
        for entry in _audit(run_dir, hospital):
            assert "blocked" not in entry and "error" not in entry
            for key in entry["metric_keys"]:
                assert contract.is_allowed_metric(key), (hospital, key)
            assert set(entry["config_keys"]) <= contract.ALLOWED_CONFIG_KEYS
            if entry["type"] == "train":
                model_bytes = model_bytes or entry["array_bytes"]
                assert entry["array_bytes"] == model_bytes > 0  # the model, the same size every time
            else:
                assert entry["array_bytes"] == 0


def test_every_fold_ends_with_a_model_its_hospitals_trained(loho_run: tuple[Path, dict[str, Any]]) -> None:
    """A fold's final model is not the model it started from: the hospitals' local training was kept."""
    run_dir, results = loho_run
    config = RunConfig.from_flower({**default_run_config(), **FAST_RUN, "protocol": "loho"})
    for fold in results["folds"]:
        final = load_model_file(run_dir / "models" / f"{fold['held_out']}.pt")
        initial = build_model(
            config, len(final.clinical_names), init_seed=derive_seed(config.seed, "init", fold["held_out"])
        )
        started, ended = initial.state_dict(), final.model.state_dict()
        # the clinical transform is set from the census, not trained; every other weight must have moved
        trained = [
            k for k in started if not k.startswith("clinical_encoder") and started[k].is_floating_point()
        ]
        assert trained
        changes = [float((ended[k] - started[k]).abs().max()) for k in trained]
        assert min(changes) > 0.0 and max(changes) > 1e-3, fold["held_out"]


def test_held_out_metrics_use_the_training_pools_threshold(loho_run: tuple[Path, dict[str, Any]]) -> None:
    """The transferred threshold is the training hospitals' validation Youden point, never the held-out one's,
    and the operating point there is what the held-out hospital's histograms give at that threshold."""
    _, results = loho_run
    edges = bin_edges()
    for fold in results["folds"]:
        metrics = fold["held_out_metrics"]["mi"]
        transfer = metrics["transfer"]
        assert transfer["threshold"] == fold["validation_metrics"]["mi"]["youden_threshold"]
        # Recomputed here from the stored histograms: a record is positive iff its bin starts at or above it.
        pos, neg = histogram_from_stored(fold["held_out_histograms"]["mi"]["0"])
        predicted_positive = edges[:-1] >= transfer["threshold"]
        assert (transfer["tp"], transfer["fp"]) == (
            int(pos[predicted_positive].sum()),
            int(neg[predicted_positive].sum()),
        )
        assert transfer["sensitivity"] == transfer["tp"] / int(pos.sum())
    # Each fold's own Youden point differs from its transferred one somewhere, or the check above is moot.
    assert any(
        f["held_out_metrics"]["mi"]["youden_threshold"]
        != f["held_out_metrics"]["mi"]["transfer"]["threshold"]
        for f in results["folds"]
    )


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:  # exited meanwhile
        return ""


def test_stopped_run_leaves_no_process_and_resumes_to_identical_results(
    loho_hospitals: Path, loho_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """SIGTERM to `cardiofed run` mid-experiment stops every process it started; `--resume` then finishes.

    The coordinator killed outright (SIGKILL, real SuperLink) is tests/test_deploy.py's, in the deployment
    suite; here the simulated run is stopped as a user or a scheduler stops it.
    """
    _, uninterrupted = loho_run
    run_dir = tmp_path / "interrupted"
    settings = {**FAST_RUN, "lead-importance": True}  # exactly the shared run's configuration
    command = [sys.executable, "-m", "shared.commands.cli", "run", "--data", str(loho_hospitals),
               "--out", str(run_dir), "--protocol", "loho"]  # fmt: skip
    command += [f"--set={key}={json.dumps(value)}" for key, value in settings.items()]
    runner = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    progress = run_dir / "progress.jsonl"
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        while True:
            events = (
                [json.loads(line) for line in progress.read_text().splitlines()] if progress.is_file() else []
            )
            if any(e["event"] == "round" and e.get("fold") == "1" for e in events):
                break
            assert runner.poll() is None, "run ended before it could be interrupted"
            assert time.monotonic() < deadline, "fold 1 did not start within 300 s"
            time.sleep(0.2)
        started = sessions_of([runner.pid])  # the run's own session and those Flower detached
        command_lines = " ".join(_command_line(pid) for pid in members(started))
        assert "flower-superlink" in command_lines and "flwr-simulation" in command_lines
        assert "ray" in command_lines  # the simulation's Ray cluster, training the hospitals

        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=60) == 128 + signal.SIGTERM  # a clean exit through `finally`
        assert members(started) == []
    finally:  # whatever failed above, leave nothing running
        stop_sessions(started | sessions_of([runner.pid]) | {runner.pid}, grace_s=5)
        runner.wait()
    assert not (run_dir / "results.json").exists()

    resumed = federated_run(
        loho_hospitals, run_dir, protocol="loho", resume=True, **{"lead-importance": True}
    )
    events = [json.loads(line)["event"] for line in progress.read_text().splitlines()]
    assert "resumed" in events
    for got, want in zip(resumed["folds"], uninterrupted["folds"], strict=True):
        assert got["held_out_metrics"] == want["held_out_metrics"]


def _pooled_metrics(results: dict[str, Any]) -> dict[str, Any]:
    metrics = results["metrics"]
    assert sorted(metrics["per_hospital"]) == list(HOSPITAL_IDS)
    pooled = metrics["pooled"]["mi"]
    assert {"auroc", "auprc", "youden_threshold", "sensitivity", "specificity", "ppv", "npv", "n"} <= set(
        pooled
    )
    return pooled


def test_pooled_and_centralized_report_the_same_metrics_on_the_same_records(
    synthetic_hospitals: Path, pooled_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    # How close FedAvg comes to the centralised bound is measured at realistic sizes in bench/accuracy_gap.py.
    _, pooled_results = pooled_run
    central_run = federated_run(synthetic_hospitals, tmp_path, protocol="centralized")
    pooled, central = _pooled_metrics(pooled_results), _pooled_metrics(central_run)
    assert set(pooled) == set(central)
    assert pooled["n"] == central["n"]  # the same test records, scored by two models
    # The centralised baseline trains one model on everyone's training split, through one node.
    assert [r["trained"] for r in central_run["rounds"]] == [["0"], ["0"]]
    assert all(len(r["trained"]) == len(HOSPITAL_IDS) for r in pooled_results["rounds"])


def test_local_baseline_scores_every_model_everywhere(synthetic_hospitals: Path, tmp_path: Path) -> None:
    results = federated_run(synthetic_hospitals, tmp_path, protocol="local")
    _pooled_metrics(results)
    cross_site = results["metrics"]["cross_site"]
    assert set(cross_site) == set(HOSPITAL_IDS)
    for owner, row in cross_site.items():
        assert set(row) == set(HOSPITAL_IDS)
        # off-site evaluations use all of that hospital's records; the own one only its test split
        for hospital, metrics in row.items():
            census = results["hospitals"][hospital]["census"]["records"]
            assert metrics["mi"]["n"] == census["test" if hospital == owner else "all"]
