"""Hospital subcommands: `cardiofed hospital join | approve | apps | privacy`.

`join` runs a Flower SuperNode that connects out to the coordinator's SuperLink over TLS, verifying it with
the federation CA, and authenticates with the hospital's own private key (registered beforehand by the
coordinator). The SuperNode runs no app itself (`--isolation process`): the hospital's gate (client/gate.py)
takes every message and lets only the apps this hospital approved (`approve`) answer it. The hospital's id,
data and privacy settings travel in the SuperNode's node config; the data never leaves this machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import secrets
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from client.approvals import AppError, ApprovalStore, read_app
from client.audit import AuditLog
from client.gate import GateSettings, serve
from client.privacy import PrivacyLedger
from shared.processes import sigterm_raises_exit, stop_process

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

    @property
    def secret_file(self) -> Path:
        """The secret the SuperNode and the hospital's gate share, so that only the gate takes its tasks."""
        return self.state_dir / "superexec.secret"


def supernode_command(settings: HospitalNodeSettings) -> list[str]:
    """The `flower-supernode` command line (TLS and node authentication are not optional).

    `--isolation process`: the SuperNode starts no ClientApp itself; the hospital's gate does, for
    approved apps only, and only the gate holds the secret that lets it take the SuperNode's tasks.
    """
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
        "--isolation", "process",
        "--superexec-auth-secret-file", str(settings.secret_file),
        "--host", "127.0.0.1",
        "--port", str(settings.runtime_port),
    ]  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `cardiofed hospital join | approve | apps | privacy`."""
    hospital = subparsers.add_parser(
        "hospital", help="[hospital] approve apps, join a federation, read the audit log and privacy ledger"
    )
    commands = hospital.add_subparsers(dest="hospital_command", metavar="COMMAND", required=True)

    join = commands.add_parser(
        "join",
        help="run this hospital's Flower SuperNode, connected to the coordinator's SuperLink",
        description="Connect this hospital to a federation as a Flower SuperNode (TLS + node "
        "authentication). Only apps approved with `cardiofed hospital approve` run; every other run is "
        "refused and logged. Runs in the foreground until stopped (Ctrl-C or SIGTERM).",
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

    approve = commands.add_parser(
        "approve",
        help="approve the exact app (folder or .fab) that may run at this hospital, or --revoke one",
        description="Show an app's publisher, name, version, FAB hash (SHA-256, as Flower names it) and "
        "files, and record it as approved in the hospital's state folder. An app folder is built into a "
        "FAB exactly as `flwr run` builds it. Only runs of approved FABs get past the hospital's gate.",
    )
    approve.add_argument("--state", required=True, type=Path, help="the hospital's state folder")
    approve.add_argument("app", nargs="?", type=Path, help="an app folder or a .fab file")
    approve.add_argument("--revoke", metavar="HASH", help="withdraw the approval of this FAB hash or prefix")
    approve.add_argument("--show", action="store_true", help="only show the app; record nothing")
    approve.set_defaults(handler=_approve)

    apps = commands.add_parser(
        "apps", help="list the approved apps and the runs this hospital refused",
        description="The apps approved at this hospital and, from its audit log, every run it refused.",
    )  # fmt: skip
    apps.add_argument("--state", required=True, type=Path, help="the hospital's state folder")
    apps.set_defaults(handler=_apps)

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
        approved = _prepare_state(settings)
    except (OSError, AppError) as error:
        print(f"error: hospital {settings.hospital}: {error}", file=sys.stderr)
        return 1
    print(
        f"hospital {settings.hospital} joining {settings.superlink} (state: {settings.state_dir}); "
        f"{len(approved)} approved app(s)"
        + ("" if approved else ": every run will be refused until `cardiofed hospital approve`"),
        file=sys.stderr,
        flush=True,
    )
    return _supervise(settings, command)


def _prepare_state(settings: HospitalNodeSettings) -> dict[str, dict[str, object]]:
    """Check the state folder is usable before connecting; write the gate's secret; return the approvals."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(settings.state_dir, os.W_OK):
        raise PermissionError(f"state folder {settings.state_dir} cannot be written")
    approved = ApprovalStore(settings.state_dir).approved()  # a damaged file stops the join here
    # A new secret at every start: only this join's gate can take the tasks of this join's SuperNode.
    settings.secret_file.unlink(missing_ok=True)
    descriptor = os.open(settings.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as secret:
        secret.write(secrets.token_bytes(32))
    return approved


def _supervise(settings: HospitalNodeSettings, command: list[str]) -> int:
    """Run the SuperNode and the hospital's gate until either stops or the join is told to stop."""
    # Flower's executables live beside this interpreter.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # The SuperNode keeps its state under FLWR_HOME: keep that with the hospital's own state.
    env.setdefault("FLWR_HOME", str((settings.state_dir / "flwr-home").resolve()))
    gate = GateSettings(
        hospital=settings.hospital,
        state_dir=settings.state_dir,
        runtime_address=f"127.0.0.1:{settings.runtime_port}",
        secret=settings.secret_file.read_bytes(),
    )
    stop = threading.Event()
    with sigterm_raises_exit():
        # In this process group, so that whatever stops the join (systemd, Ctrl-C, a signal to the group)
        # stops the SuperNode too: a SuperNode left without its gate would take messages and answer none.
        supernode = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)
        gatekeeper = threading.Thread(target=serve, args=(gate, stop), name="gate", daemon=True)
        gatekeeper.start()
        try:
            status = supernode.wait()
        except KeyboardInterrupt:
            status = 130
        finally:
            stop.set()
            stop_process(supernode)
            # A message in flight cannot be answered without the SuperNode: do not wait on its retries.
            gatekeeper.join(timeout=2)
    print(f"hospital {settings.hospital}: SuperNode stopped (status {status})", file=sys.stderr)
    return status


def _die_with_parent() -> None:
    """In the SuperNode's process, before it starts: end it if the join process dies (Linux prctl)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _approve(args: argparse.Namespace) -> int:
    store = ApprovalStore(args.state)
    try:
        if args.revoke:
            revoked = store.revoke(args.revoke)
            label = f"{revoked['publisher']}/{revoked['name']} {revoked['version']}"
            print(f"revoked {label} ({revoked['fab_hash']})")
            return 0
        if args.app is None:
            print("error: name an app folder or .fab file to approve, or --revoke HASH", file=sys.stderr)
            return 2
        bundle = read_app(args.app)
        print(f"app      {bundle.label}\nFAB hash {bundle.fab_hash}\nfiles    {len(bundle.files)}")
        for name in bundle.files:
            print(f"  {name}")
        if args.show:
            return 0
        store.approve(bundle)
    except (AppError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"approved {bundle.label} ({bundle.fab_hash}) at {store.path}")
    return 0


def _apps(args: argparse.Namespace) -> int:
    try:
        approved = ApprovalStore(args.state).approved()
    except AppError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for entry in approved.values():
        print(f"approved {entry['fab_hash']}  {entry['publisher']}/{entry['name']} {entry['version']}  "
              f"since {_when(entry['approved_at'])}")  # fmt: skip
    refused = [run for run in AuditLog(args.state).runs() if run["decision"] != "approved"]
    for run in refused:
        print(f"refused  run {run['run']} at {_when(run['time'])}: {run['reason']}")
    print(f"{len(approved)} approved app(s), {len(refused)} refused run(s)")
    return 0


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).isoformat(timespec="seconds")


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
