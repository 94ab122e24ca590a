"""The coordinator's Flower ServerApp: census, then the configured protocol, then results.json."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from server.census import run_census
from server.checkpoint import Checkpoints
from server.experiment import Experiment, privacy_summary
from server.federation import Federation
from server.hospital_grid import HospitalGrid
from server.progress import ProgressLog
from server.protocols import run_protocol
from shared.config import RunConfig

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run one experiment end to end; everything it learns is written under the run folder."""
    config = RunConfig.from_flower(context.run_config)
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    progress = ProgressLog(run_dir)
    try:
        _run_experiment(grid, config, run_dir, progress)
    except Exception as error:
        # Whoever launched the run learns why it stopped, not only that it did.
        progress.emit("failed", message=f"{type(error).__name__}: {error}")
        raise


def _run_experiment(grid: Grid, config: RunConfig, run_dir: Path, progress: ProgressLog) -> None:
    nodes, problems = run_census(grid, {"server-round": 0}, config.expected_hospitals, config.round_timeout_s)
    for problem in problems:
        progress.emit("census-problem", message=problem)
    if len(nodes) < 2:
        raise RuntimeError(f"need at least 2 hospitals, {len(nodes)} answered the census: {problems}")
    clinical_names = _common_clinical_names(nodes)
    folds = len(nodes) if config.protocol == "loho" else 1
    progress.emit("census", hospitals=sorted(nodes), problems=problems, total_rounds=folds * config.rounds)

    checkpoints = Checkpoints(run_dir, config)
    state = checkpoints.load() if config.resume else None
    if state is not None:
        progress.emit("resumed", checkpoint=str(checkpoints.path))
    node_ids = [node.node_id for node in nodes.values()]
    federation = Federation(HospitalGrid(grid, node_ids), nodes, config.round_timeout_s)
    experiment = Experiment(config, federation, progress, checkpoints, clinical_names)
    outcome = run_protocol(experiment, state or {})

    rounds = outcome.get("rounds") or [
        {**r, "fold": f["held_out"]} for f in outcome["folds"] for r in f["rounds"]
    ]
    results = {
        "protocol": config.protocol,
        "model": config.model,
        "task": ",".join(config.tasks),
        "tasks": list(config.tasks),
        "config": config.to_dict(),
        "versions": _versions(),
        "hospitals": {
            h: {"census": node.census_summary(), "device": node.device} for h, node in nodes.items()
        },
        "census_problems": problems,
        **outcome,
        "privacy": privacy_summary(rounds, sorted(nodes), config),
    }
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, default=_plain), encoding="utf-8")
    progress.emit("done", results=str(run_dir / "results.json"))


def _common_clinical_names(nodes: dict[str, Any]) -> list[str]:
    names = {tuple(node.clinical_names) for node in nodes.values()}
    if len(names) != 1:
        detail = "; ".join(f"{h}: {', '.join(n.clinical_names)}" for h, n in nodes.items())
        raise RuntimeError(f"hospitals disagree on clinical features ({detail}); align their data layouts")
    return list(names.pop())


def _versions() -> dict[str, str]:
    packages = ("cardiofed", "flwr", "torch", "opacus", "wfdb", "numpy")
    return {"python": platform.python_version(), **{p: metadata.version(p) for p in packages}}


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and arrays that metrics may carry."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to results.json")
