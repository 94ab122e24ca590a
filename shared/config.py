"""The experiment's configuration: one home (the Flower app config), validated in one place.

Defaults live in `pyproject.toml` under `[tool.flwr.app.config]`; `cardiofed run` and `flwr run --run-config`
override them. Flower hands the merged mapping to both apps as `context.run_config`; `RunConfig.from_flower`
turns it into typed, validated values and rejects bad ones with a message that names the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROTOCOLS: tuple[str, ...] = ("loho", "pooled", "local", "centralized")
STRATEGIES: tuple[str, ...] = (
    "fedavg",
    "fedprox",
    "fedadam",
    "fedyogi",
    "fedavgm",
    "fedmedian",
    "fedtrimmedavg",
    "krum",
)
LOSSES: tuple[str, ...] = ("bce", "double_soft_f1")
CENTRAL_DP_MODES: tuple[str, ...] = ("off", "fixed", "adaptive")


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key and what is allowed."""


@dataclass(frozen=True)
class RunConfig:
    """Typed view of `[tool.flwr.app.config]` plus overrides (keys are the same with `-` for `_`)."""

    protocol: str
    tasks: tuple[str, ...]
    model: str
    rounds: int
    local_epochs: int
    evaluate_every: int
    batch_size: int
    learning_rate: float
    loss: str
    strategy: str
    proximal_mu: float
    server_learning_rate: float
    sample_rate: int
    duration_s: float
    seed: int
    data_path: str
    layout: str
    hospital_by: str
    records: str
    run_dir: str
    round_timeout_s: float
    min_cell_size: int
    max_update_norm: float
    dp: bool
    epsilon: float
    delta: float
    max_grad_norm: float
    central_dp: str
    central_dp_noise: float
    central_dp_clip: float
    resume: bool
    expected_hospitals: int
    hospital_state_dir: str
    hospital_max_epsilon: float
    lead_importance: bool

    @classmethod
    def from_flower(cls, run_config: Mapping[str, Any]) -> RunConfig:
        """Validate Flower's run config (hyphenated keys) into a RunConfig."""
        values = {name: _require(run_config, name) for name in cls.__dataclass_fields__}
        tasks = tuple(t.strip() for t in str(values["tasks"]).split(",") if t.strip())
        config = cls(
            protocol=_choice(values, "protocol", PROTOCOLS),
            tasks=tasks,
            model=str(values["model"]),
            rounds=_int(values, "rounds", minimum=1),
            local_epochs=_int(values, "local_epochs", minimum=1),
            evaluate_every=_int(values, "evaluate_every", minimum=1),
            batch_size=_int(values, "batch_size", minimum=1),
            learning_rate=_float(values, "learning_rate", minimum=0.0, exclusive=True),
            loss=_choice(values, "loss", LOSSES),
            strategy=_choice(values, "strategy", STRATEGIES),
            proximal_mu=_float(values, "proximal_mu", minimum=0.0),
            server_learning_rate=_float(values, "server_learning_rate", minimum=0.0, exclusive=True),
            sample_rate=_int(values, "sample_rate", minimum=25),
            duration_s=_float(values, "duration_s", minimum=0.5),
            seed=_int(values, "seed", minimum=0),
            data_path=str(values["data_path"]),
            layout=str(values["layout"]),
            hospital_by=str(values["hospital_by"]),
            records=str(values["records"]),
            run_dir=str(values["run_dir"]),
            round_timeout_s=_float(values, "round_timeout_s", minimum=1.0),
            min_cell_size=_int(values, "min_cell_size", minimum=1),
            max_update_norm=_float(values, "max_update_norm", minimum=0.0, exclusive=True),
            dp=_bool(values, "dp"),
            epsilon=_float(values, "epsilon", minimum=0.0, exclusive=True),
            delta=_float(values, "delta", minimum=0.0, exclusive=True),
            max_grad_norm=_float(values, "max_grad_norm", minimum=0.0, exclusive=True),
            central_dp=_choice(values, "central_dp", CENTRAL_DP_MODES),
            central_dp_noise=_float(values, "central_dp_noise", minimum=0.0),
            central_dp_clip=_float(values, "central_dp_clip", minimum=0.0, exclusive=True),
            resume=_bool(values, "resume"),
            expected_hospitals=_int(values, "expected_hospitals", minimum=0),
            hospital_state_dir=str(values["hospital_state_dir"]),
            hospital_max_epsilon=_float(values, "hospital_max_epsilon", minimum=0.0),
            lead_importance=_bool(values, "lead_importance"),
        )
        config._check_names()
        if not 0.0 < config.delta < 1.0:
            raise ConfigError(f"delta must lie in (0, 1), got {config.delta}")
        return config

    def _check_names(self) -> None:
        # Imported here: the registries import torch and wfdb, which a mere config parse should not pay for.
        from shared.data import TASK_NAMES
        from shared.models import MODEL_NAMES

        if not self.tasks:
            raise ConfigError("task: at least one task is required, e.g. task='mi'")
        for task in self.tasks:
            if task not in TASK_NAMES:
                raise ConfigError(f"task: unknown task {task!r}; choose from {', '.join(TASK_NAMES)}")
        if self.model not in MODEL_NAMES:
            raise ConfigError(f"model: unknown model {self.model!r}; choose from {', '.join(MODEL_NAMES)}")
        if self.dp and self.strategy == "fedprox":
            raise ConfigError(
                "strategy: FedProx's proximal term is not clipped per sample; it cannot run under DP-SGD"
            )
        if self.dp and self.loss == "double_soft_f1":
            raise ConfigError(
                "loss: double_soft_f1 couples the samples of a batch and cannot run under DP-SGD"
            )

    def validates_after(self, server_round: int) -> bool:
        """Whether `server_round` ends with a validation round: every `evaluate-every` rounds and the last."""
        return server_round % self.evaluate_every == 0 or server_round == self.rounds

    def to_dict(self) -> dict[str, Any]:
        """Plain values for results.json (tasks as a list)."""
        values = asdict(self)
        values["tasks"] = list(self.tasks)
        return values


def _flower_name(field_name: str) -> str:
    """The Flower config key of a field: hyphens, and `task` (a comma-separated list) for `tasks`."""
    return "task" if field_name == "tasks" else field_name.replace("_", "-")


def _require(run_config: Mapping[str, Any], field_name: str) -> Any:
    key = _flower_name(field_name)
    if key not in run_config:
        raise ConfigError(f"missing configuration key {key!r} (defaults live in [tool.flwr.app.config])")
    return run_config[key]


def _choice(values: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = str(values[name])
    if value not in allowed:
        raise ConfigError(f"{_flower_name(name)}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _int(values: Mapping[str, Any], name: str, *, minimum: int) -> int:
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ConfigError(f"{_flower_name(name)}: expected an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{_flower_name(name)}: must be >= {minimum}, got {value}")
    return int(value)


def _float(values: Mapping[str, Any], name: str, *, minimum: float, exclusive: bool = False) -> float:
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{_flower_name(name)}: expected a number, got {value!r}")
    if value < minimum or (exclusive and value == minimum):
        bound = ">" if exclusive else ">="
        raise ConfigError(f"{_flower_name(name)}: must be {bound} {minimum}, got {value}")
    return float(value)


def _bool(values: Mapping[str, Any], name: str) -> bool:
    value = values[name]
    if not isinstance(value, bool):
        raise ConfigError(f"{_flower_name(name)}: expected true or false, got {value!r}")
    return value


def app_dir() -> Path:
    """The Flower app directory: the project root holding pyproject.toml with `[tool.flwr.app]`."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise ConfigError(
            f"no pyproject.toml beside the installed packages at {root}; "
            "install cardiofed from a checkout (pip install -e .) to run experiments"
        )
    return root


def default_run_config() -> dict[str, Any]:
    """The defaults from `[tool.flwr.app.config]`, exactly as Flower reads them."""
    with open(app_dir() / "pyproject.toml", "rb") as handle:
        return dict(tomllib.load(handle)["tool"]["flwr"]["app"]["config"])


def parse_set_options(items: list[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` items, as every command takes them: a TOML value (`rounds=5`, `lr=1e-3`,
    `tasks=["mi","norm"]`), or a bare word, which is a string (`protocol=loho`, as `protocol="loho"`)."""
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            settings[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            settings[key.strip()] = value
    return settings
