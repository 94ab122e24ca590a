"""The apps a hospital approved: exact Flower App Bundles, by the SHA-256 hash Flower gives them.

A hospital runs a run's ClientApp only if it approved the very bytes of that run's FAB (invariant 6). An
approval is made at the hospital, by `cardiofed hospital approve`, from an app folder (built into a FAB the
way `flwr run` builds it, so the hash is the one the coordinator's submission will carry) or from a `.fab`
file the coordinator sent. Approvals live in the hospital's state folder (`approved-apps.json`), written
atomically; nothing that arrives over the network writes there.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import tomllib
import zipfile
from dataclasses import asdict, dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

APPROVALS_FILE = "approved-apps.json"


class AppError(ValueError):
    """A path is not a Flower app or FAB the hospital could approve; the message says why."""


@dataclass(frozen=True)
class AppBundle:
    """One Flower App Bundle: its hash and what it says it is."""

    fab_hash: str  # SHA-256 of the FAB's bytes, as Flower computes it
    publisher: str
    name: str
    version: str
    files: tuple[str, ...]  # every file in the bundle, as stored

    @property
    def label(self) -> str:
        """`publisher/name version`, as people name an app."""
        return f"{self.publisher}/{self.name} {self.version}"


def fab_hash(fab: bytes) -> str:
    """The hash by which Flower (and the hospital's approvals) name a FAB: SHA-256 of its bytes, in hex."""
    return hashlib.sha256(fab).hexdigest()


def bundle_from_bytes(fab: bytes, origin: str) -> AppBundle:
    """Read a FAB's identity from its bytes; `origin` names where it came from in error messages."""
    try:
        with zipfile.ZipFile(BytesIO(fab)) as archive:
            files = tuple(sorted(archive.namelist()))
            if "pyproject.toml" not in files:
                raise AppError(f"{origin}: the bundle has no pyproject.toml, so it is not a Flower app")
            config = tomllib.loads(archive.read("pyproject.toml").decode("utf-8"))
    except (zipfile.BadZipFile, EOFError) as error:
        raise AppError(f"{origin}: not a readable FAB (zip archive): {error}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise AppError(f"{origin}: its pyproject.toml is not valid TOML: {error}") from error
    try:
        publisher = str(config["tool"]["flwr"]["app"]["publisher"])
        name, version = str(config["project"]["name"]), str(config["project"]["version"])
    except (KeyError, TypeError) as error:
        raise AppError(
            f"{origin}: pyproject.toml lacks {error} ([project] name/version, [tool.flwr.app] publisher)"
        ) from error
    return AppBundle(fab_hash(fab), publisher, name, version, files)


def fab_bytes(app: Path) -> bytes:
    """The FAB of `app`: a `.fab` file as it is, or an app folder built exactly as `flwr run` builds it."""
    if app.is_file():
        return app.read_bytes()
    if not app.is_dir():
        raise AppError(f"{app}: no such app folder or .fab file")
    if not (app / "pyproject.toml").is_file():
        raise AppError(f"{app}: not a Flower app (no pyproject.toml)")
    # Flower's own builder, so the hash is the one the coordinator's `flwr run` of this folder sends.
    from flwr.cli.build import build_fab_from_disk

    try:
        return build_fab_from_disk(app)
    except Exception as error:  # Flower raises ValueError and its own click errors for a bad app
        reasons = "; ".join(line.strip(" -") for line in str(error).splitlines() if line.strip(" -"))
        raise AppError(f"{app}: not a Flower app: {reasons}") from error


def read_app(app: Path) -> AppBundle:
    """The bundle an app folder or `.fab` file stands for (what `approve` shows and records)."""
    return bundle_from_bytes(fab_bytes(app), str(app))


class ApprovalStore:
    """The hospital's approved apps, kept in its state folder; survives restarts."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / APPROVALS_FILE

    def approved(self) -> dict[str, dict[str, Any]]:
        """Approved apps by FAB hash: publisher, name, version, file count and when."""
        if not self.path.is_file():
            return {}
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            # Refusing everything is the safe reading of a damaged file; saying so lets the hospital fix it.
            raise AppError(f"{self.path} is damaged ({error}); re-approve the hospital's apps") from error
        return {entry["fab_hash"]: entry for entry in entries}

    def is_approved(self, fab_hash: str) -> bool:
        """Whether the FAB with this hash may run here."""
        return fab_hash in self.approved()

    def approve(self, bundle: AppBundle) -> None:
        """Record `bundle` as approved (approving it again refreshes the entry)."""
        entries = self.approved()
        record = {k: v for k, v in asdict(bundle).items() if k != "files"}
        entries[bundle.fab_hash] = {**record, "files": len(bundle.files), "approved_at": time.time()}
        self._write(entries)

    def revoke(self, fab_hash: str) -> dict[str, Any]:
        """Withdraw an approval; returns what was withdrawn. Unknown hashes are an error."""
        entries = self.approved()
        matches = [h for h in entries if h == fab_hash or (len(fab_hash) >= 8 and h.startswith(fab_hash))]
        if len(matches) != 1:
            known = ", ".join(h[:12] for h in entries) or "none"
            what = "matches several approvals" if matches else "is not approved here"
            raise AppError(f"app {fab_hash} {what} (approved: {known})")
        revoked = entries.pop(matches[0])
        self._write(entries)
        return revoked

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(json.dumps(sorted(entries.values(), key=lambda e: e["fab_hash"]), indent=2))
        os.replace(partial, self.path)  # atomic: a crash leaves the old approvals or the new, never half
