"""Hospital subcommands: `cardiofed hospital join` (run this site's SuperNode) and `hospital privacy`.

`join` becomes a Flower SuperNode that connects out to the coordinator's SuperLink over TLS, verifying it
with the federation CA, and authenticates with the hospital's own private key (registered beforehand by
the coordinator). The hospital's id, data and privacy settings travel in the SuperNode's node config; the
data never leaves this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from client.audit import AuditLog
from client.privacy import PrivacyLedger

DEFAULT_RUNTIME_PORT = 9094


@dataclass(frozen=True)
class HospitalNodeSettings:
    """Everything a hospital decides about its SuperNode."""

    superlink: str  # HOST:PORT of the coordinator's SuperLink
    hospital: str
    data_path: Path
    ca_certificate: Path  # the federation CA that signed the SuperLink's certificate
    private_key: Path  # this hospital's SuperNode authentication key (OpenSSH, ECDSA P-384)
    state_dir: Path  # audit log and privacy ledger
    max_epsilon: float | None = None
    force_dp: bool = False
    layout: str = "auto"
    runtime_port: int = DEFAULT_RUNTIME_PORT  # loopback port between the SuperNode and its ClientApp

    def node_config(self) -> str:
        """The SuperNode's `--node-config`: what `client.site.resolve_site` reads in deployment."""
        values: dict[str, str | float | bool] = {
            "hospital": self.hospital,
            "data-path": str(self.data_path.resolve()),
            "state-dir": str(self.state_dir.resolve()),
            "layout": self.layout,
        }
        if self.max_epsilon is not None:
            values["max-epsilon"] = float(self.max_epsilon)
        if self.force_dp:
            values["force-dp"] = True
        return " ".join(f"{key}={_toml(value)}" for key, value in values.items())


def supernode_command(settings: HospitalNodeSettings) -> list[str]:
    """The `flower-supernode` command line (TLS and node authentication are not optional)."""
    for path, what in (
        (settings.ca_certificate, "the federation CA certificate (ca.crt from the coordinator)"),
        (
            settings.private_key,
            f"the SuperNode key of hospital {settings.hospital} (deploy/certs.sh hospital)",
        ),
    ):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: {what}")
    if not settings.data_path.is_dir():
        raise FileNotFoundError(f"hospital {settings.hospital}: data folder {settings.data_path} not found")
    return [
        "flower-supernode",
        "--superlink", settings.superlink,
        "--root-certificates", str(settings.ca_certificate),
        "--auth-supernode-private-key", str(settings.private_key),
        "--node-config", settings.node_config(),
        "--port", str(settings.runtime_port),
    ]  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `cardiofed hospital join` and `cardiofed hospital privacy`."""
    hospital = subparsers.add_parser("hospital", help="[hospital] join a federation, read the privacy ledger")
    commands = hospital.add_subparsers(dest="hospital_command", metavar="COMMAND", required=True)

    join = commands.add_parser(
        "join",
        help="run this hospital's Flower SuperNode, connected to the coordinator's SuperLink",
        description="Connect this hospital to a federation as a Flower SuperNode (TLS + node "
        "authentication). Runs in the foreground until stopped (Ctrl-C or SIGTERM).",
    )
    join.add_argument("--superlink", required=True, metavar="HOST:PORT", help="the coordinator's SuperLink")
    join.add_argument("--data", required=True, type=Path, help="this hospital's WFDB folder")
    join.add_argument("--hospital-id", required=True, help="this hospital's id in the federation")
    join.add_argument("--ca", required=True, type=Path, help="federation CA certificate (ca.crt)")
    join.add_argument("--key", required=True, type=Path, help="this hospital's SuperNode private key")
    join.add_argument(
        "--state", type=Path, help="audit log and privacy ledger folder (default: DATA/.cardiofed)"
    )
    join.add_argument(
        "--max-epsilon", type=float, help="refuse DP training past this epsilon (default: no cap)"
    )
    join.add_argument("--force-dp", action="store_true", help="train only with DP-SGD")
    join.add_argument("--layout", default="auto", help="ptbxl | challenge | plain | image | auto")
    join.add_argument(
        "--runtime-port", type=int, default=DEFAULT_RUNTIME_PORT,
        help=f"local port between the SuperNode and its ClientApp (default {DEFAULT_RUNTIME_PORT})",
    )  # fmt: skip
    join.set_defaults(handler=_join)

    privacy = commands.add_parser(
        "privacy",
        help="show the privacy ledger: every DP training and the epsilon spent",
        description="Print this hospital's privacy ledger (one line per DP training, across runs) and "
        "the total epsilon spent at the given delta, plus a count of audited messages.",
    )
    privacy.add_argument("--state", required=True, type=Path, help="the hospital's state folder")
    privacy.add_argument("--delta", type=float, default=1e-5, help="delta of the reported epsilon")
    privacy.set_defaults(handler=_privacy)


def _join(args: argparse.Namespace) -> int:
    settings = HospitalNodeSettings(
        superlink=args.superlink,
        hospital=args.hospital_id,
        data_path=args.data,
        ca_certificate=args.ca,
        private_key=args.key,
        state_dir=args.state or args.data / ".cardiofed",
        max_epsilon=args.max_epsilon,
        force_dp=args.force_dp,
        layout=args.layout,
        runtime_port=args.runtime_port,
    )
    try:
        command = supernode_command(settings)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"hospital {settings.hospital} joining {settings.superlink} (state: {settings.state_dir})",
        file=sys.stderr,
    )
    # Flower's executables live beside this interpreter; exec keeps one process for systemd to supervise.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # The SuperNode unpacks each app it runs under FLWR_HOME: keep that with the hospital's own state.
    env.setdefault("FLWR_HOME", str((settings.state_dir / "flwr-home").resolve()))
    os.execvpe(command[0], command, env)


def _privacy(args: argparse.Namespace) -> int:
    ledger = PrivacyLedger(args.state)
    entries = ledger.entries()
    for entry in entries:
        fold = entry["fold"] if entry["fold"] is not None else "-"
        print(
            f"run {entry['run']}  fold {fold}  round {entry['round']}  steps {entry['steps']}  "
            f"noise {entry['noise_multiplier']:.3f}  sample rate {entry['sample_rate']:.4f}"
        )
    audit = AuditLog(args.state)
    epsilon = ledger.epsilon(args.delta)
    print(
        f"{len(entries)} DP training(s), epsilon spent {epsilon:.3f} at delta {args.delta:g}; "
        f"{len(audit.entries())} message(s) in the audit log {audit.path}"
    )
    return 0


def _toml(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
