"""The hospital's Flower ClientApp: answers query (census), train and evaluate messages.

Every reply passes the egress guard and is written to the hospital's audit log before Flower sends it: in a
deployment by the hospital's gate (client/gate.py), in simulation by this app's mod.
"""

from __future__ import annotations

from functools import partial

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable
from flwr.common.constant import ErrorCode

from client.audit import AuditLog
from client.egress import guarded_reply
from client.lead_importance import lead_importance_metrics
from client.privacy import (
    PrivacyLedger,
    PrivacyRefused,
    check_cap,
    make_private,
    noise_only_step,
    plan_training,
)
from client.site import HospitalSite, hospital_data, pooled_training_data, resolve_site, split_of
from client.summaries import census_metrics, evaluation_metrics
from client.training import make_loader, make_optimizer, predict_probabilities, train_epochs, training_device
from shared import contract
from shared.config import RunConfig
from shared.data import ECGDataset
from shared.experiment import build_model, derive_seed


class TrainingRefused(RuntimeError):
    """The hospital declines a train request (it is the fold's held-out hospital, or over its budget)."""


def _setup(context: Context) -> tuple[RunConfig, HospitalSite]:
    config = RunConfig.from_flower(context.run_config)
    return config, resolve_site(dict(context.node_config), config)


def guard_and_audit(message: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower mod (simulation): check every reply against the message contract, then log what left.

    In a deployment the hospital's own gate (client/gate.py, from the hospital's installation) guards and
    logs every reply of this app, so the app does not do it a second time with its own copy of the code.
    """
    _, site = _setup(context)
    if not site.simulated:
        return call_next(message, context)
    try:
        reply = call_next(message, context)
    except Exception as error:
        # Flower's simulation would turn the exception into an error reply past this mod, unguarded and
        # unlogged; made here, as client/clientapp_process.py does in a deployment, it is checked and logged.
        reason = f"{type(error).__name__}: {error}"
        reply = Message(Error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason), reply_to=message)
    return guarded_reply(site.hospital, AuditLog(site.state_dir), message, reply)


app = ClientApp(mods=[guard_and_audit])


@app.query()
def query(message: Message, context: Context) -> Message:
    """Census: the hospital's id and aggregate facts about its data."""
    config, site = _setup(context)
    data = hospital_data(site, config)
    metrics = census_metrics(data, split_of(data, config.seed), config.tasks)
    facts = ConfigRecord(
        {
            "hospital": site.hospital,
            "clinical-names": list(data.clinical_names),
            "device": str(training_device()),
        }
    )
    return Message(
        RecordDict({contract.METRICS: MetricRecord(metrics), contract.CONFIG: facts}), reply_to=message
    )


@app.train()
def train(message: Message, context: Context) -> Message:
    """Train the received model on the hospital's training split and send back the weights."""
    config, site = _setup(context)
    instructions = message.content.config_records[contract.CONFIG]
    fold = str(instructions.get("held-out", ""))
    if fold == site.hospital:
        # Invariant 2 is enforced on both sides: the coordinator never asks, and the hospital never complies.
        raise TrainingRefused(f"hospital {site.hospital} is held out in this fold and does not train")
    if site.force_dp and not config.dp:
        return _refusal(message, f"hospital {site.hospital} trains only with DP-SGD; start the run with --dp")
    data = _training_data(site, config, bool(instructions.get("pooled", False)))
    server_round = _count(instructions, "server-round")
    seed = derive_seed(config.seed, fold, server_round, site.hospital)
    torch.manual_seed(seed)
    model = build_model(config, clinical_features=len(data.clinical_names))
    model.load_state_dict(message.content.array_records[contract.ARRAYS].to_torch_state_dict())
    device = training_device()
    loader = make_loader(data, config.tasks, config.batch_size, seed, shuffle=True)
    optimizer = make_optimizer(model, config)
    trained: torch.nn.Module = model
    empty_batch_step = None
    privacy_metrics: dict[str, float | int] = {}
    if config.dp:
        ledger = PrivacyLedger(site.state_dir)
        planned_rounds = _count(instructions, "planned-rounds", default=config.rounds)
        training = plan_training(
            len(data), config.batch_size, config.local_epochs, planned_rounds, config.epsilon, config.delta
        )
        try:
            check_cap(ledger, training, config.delta, site.max_epsilon)
        except PrivacyRefused as refusal:
            return _refusal(message, str(refusal))
        trained, optimizer, loader = make_private(
            model, optimizer, loader, training, config.max_grad_norm, seed
        )
        empty_batch_step = partial(noise_only_step, trained, optimizer)
    proximal_to = None
    if config.strategy == "fedprox":
        proximal_to = [p.detach().clone().to(device) for p in model.parameters() if p.requires_grad]
    outcome = train_epochs(
        trained, loader, optimizer, config, device, proximal_to=proximal_to, empty_batch_step=empty_batch_step
    )
    if config.dp:
        # Every Poisson batch is a step (an empty one takes a noise-only step), so the plan is what ran.
        ledger.record(training, run=message.metadata.run_id, fold=fold or None, server_round=server_round,
                      delta=config.delta)  # fmt: skip
        privacy_metrics = {
            "dp-epsilon": ledger.epsilon(config.delta),
            "dp-delta": config.delta,
            "dp-noise-multiplier": training.noise_multiplier,
            "dp-sample-rate": training.sample_rate,
            "dp-steps": training.steps,
        }
    metrics: dict[str, int | float | list[int] | list[float]] = {
        contract.NUM_EXAMPLES: len(data),
        "train-loss": outcome.mean_loss,
        "ecg-per-second": outcome.ecg_per_second,
        "local-steps": outcome.steps,
        **privacy_metrics,
    }
    # The wrapped DP module trains the very parameters of `model`, so its state dict is the update.
    arrays = ArrayRecord(model.to("cpu").state_dict())
    content = RecordDict({contract.ARRAYS: arrays, contract.METRICS: MetricRecord(metrics)})
    return Message(content, reply_to=message)


def _count(instructions: ConfigRecord, key: str, default: int | None = None) -> int:
    """A whole-number instruction (a round, a number of rounds); anything else is a malformed message."""
    value = instructions.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"instruction {key} must be a whole number, got {value!r}")
    return value


def _refusal(message: Message, reason: str) -> Message:
    """A train reply that declines, with the reason (no arrays: nothing was trained)."""
    content = RecordDict(
        {
            contract.METRICS: MetricRecord({"dp-refused": 1}),
            contract.CONFIG: ConfigRecord({"refusal-reason": reason}),
        }
    )
    return Message(content, reply_to=message)


@app.evaluate()
def evaluate(message: Message, context: Context) -> Message:
    """Score the received model on one split of the hospital's data; reply with histograms only.

    With `lead-importance` in the instructions, also per-lead attribution means and counts.
    """
    config, site = _setup(context)
    instructions = message.content[contract.CONFIG]
    split = str(instructions.get("split", "all"))
    data = hospital_data(site, config)
    if split != "all":
        data = data.subset(split_of(data, config.seed) == split)
    model = build_model(config, clinical_features=len(data.clinical_names))
    model.load_state_dict(message.content.array_records[contract.ARRAYS].to_torch_state_dict())
    device = training_device()
    probabilities = predict_probabilities(model, data, config.tasks, device)
    metrics: dict[str, int | float | list[int] | list[float]] = dict(
        evaluation_metrics(data, probabilities, config.min_cell_size)
    )
    if instructions.get("lead-importance", False):
        metrics.update(lead_importance_metrics(model, data, config.tasks, device))
    return Message(RecordDict({contract.METRICS: MetricRecord(metrics)}), reply_to=message)


def _training_data(site: HospitalSite, config: RunConfig, pooled: bool) -> ECGDataset:
    if pooled:
        # The centralised upper bound: only a simulated node can see every hospital's data.
        if not site.simulated:
            raise TrainingRefused("pooled (centralised) training exists only in simulation")
        # Splits hash the patient id alone, so the pooled train split is the union of the hospitals' ones.
        data = pooled_training_data(config)
    else:
        data = hospital_data(site, config)
    return data.subset(split_of(data, config.seed) == "train")
