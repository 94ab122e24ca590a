"""A hospital's approvals: the exact FAB by hash, recorded only by `cardiofed hospital approve`.

Bad input (not a Flower app, a `.fab` that does not unpack, an unknown hash to revoke, a damaged or
unwritable state folder) gets a clear error and changes nothing. The real-process proof that the gate
refuses unapproved apps is tests/test_deploy.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from client.approvals import AppError, ApprovalStore, read_app

REPO = Path(__file__).resolve().parents[1]
CARDIOFED = Path(sys.executable).parent / "cardiofed"


def _cardiofed(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([CARDIOFED, *map(str, args)], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def built_fab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's app as a .fab, built by Flower's own `flwr build`."""
    out = tmp_path_factory.mktemp("fab")
    subprocess.run(
        [Path(sys.executable).parent / "flwr", "build", "--app", REPO],
        cwd=out,
        check=True,
        capture_output=True,
    )
    return next(out.glob("*.fab"))


def test_an_app_folder_hashes_as_flowers_own_build_of_it(built_fab: Path) -> None:
    folder, fab = read_app(REPO), read_app(built_fab)

    assert folder.fab_hash == fab.fab_hash == hashlib.sha256(built_fab.read_bytes()).hexdigest()
    assert (fab.publisher, fab.name) == ("cardiofed", "cardiofed")
    assert "client/client_app.py" in fab.files and "pyproject.toml" in fab.files
    assert fab.fab_hash[:8] in built_fab.name  # Flower names the file by the same hash


def test_approve_show_revoke_and_list(built_fab: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    shown = _cardiofed("hospital", "approve", "--state", state, built_fab, "--show")
    assert shown.returncode == 0 and "client/gate.py" in shown.stdout
    assert not (state / "approved-apps.json").exists()  # --show records nothing

    approved = _cardiofed("hospital", "approve", "--state", state, built_fab)
    fab_hash = read_app(built_fab).fab_hash
    assert approved.returncode == 0, approved.stderr
    assert f"FAB hash {fab_hash}" in approved.stdout
    assert ApprovalStore(state).is_approved(fab_hash)  # a new store object: it survives a restart
    assert f"approved {fab_hash}" in _cardiofed("hospital", "apps", "--state", state).stdout

    revoked = _cardiofed("hospital", "approve", "--state", state, "--revoke", fab_hash[:10])
    assert revoked.returncode == 0, revoked.stderr
    assert not ApprovalStore(state).is_approved(fab_hash)


def test_one_changed_byte_is_another_app(tmp_path: Path) -> None:
    copy = tmp_path / "app"
    shutil.copytree(
        REPO, copy, ignore=shutil.ignore_patterns(".*", "runs", "*.egg-info", "__pycache__", "tests")
    )
    before = read_app(copy).fab_hash
    with (copy / "shared" / "contract.py").open("ab") as source:
        source.write(b" ")
    assert read_app(copy).fab_hash != before


def test_bad_input_is_refused_and_changes_nothing(built_fab: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    ApprovalStore(state).approve(read_app(built_fab))
    before = (state / "approved-apps.json").read_bytes()
    not_an_app = tmp_path / "notes"
    not_an_app.mkdir()
    (not_an_app / "pyproject.toml").write_text('[project]\nname = "notes"\nversion = "1"\n')
    truncated = tmp_path / "broken.fab"
    truncated.write_bytes(built_fab.read_bytes()[:500])

    for args, expected in (
        ((not_an_app,), "not a Flower app"),
        ((tmp_path / "absent",), "no such app folder or .fab file"),
        ((truncated,), "not a readable FAB"),
        (("--revoke", "0123456789abcdef"), "is not approved here"),
    ):
        refused = _cardiofed("hospital", "approve", "--state", state, *args)
        assert refused.returncode != 0
        assert expected in refused.stderr, refused.stderr
        assert "\n" not in refused.stderr.strip()  # one line, whatever the terminal width
    assert (state / "approved-apps.json").read_bytes() == before


def test_a_damaged_approvals_file_refuses_everything_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "approved-apps.json").write_text("{not json")
    with pytest.raises(AppError, match="is damaged"):
        ApprovalStore(tmp_path).is_approved("00" * 32)


def test_join_refuses_a_state_folder_it_cannot_create(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    joined = _join_args(tmp_path, tmp_path / "a-file" / "state")  # even root cannot make a folder in a file
    assert joined.returncode == 1
    assert "hospital st-olav" in joined.stderr and "a-file/state" in joined.stderr


def test_join_refuses_a_damaged_approvals_file_before_connecting(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "approved-apps.json").write_text("[{")
    joined = _join_args(tmp_path, state)
    assert joined.returncode == 1
    assert "approved-apps.json is damaged" in joined.stderr
    assert not (state / "superexec.secret").exists()  # stopped before anything was set up


def _join_args(tmp_path: Path, state: Path) -> subprocess.CompletedProcess:
    data, ca, key = tmp_path / "data", tmp_path / "ca.crt", tmp_path / "h.key"
    data.mkdir(exist_ok=True)
    ca.write_text("not used: the join stops first")
    key.write_text("not used")
    return _cardiofed(
        "hospital", "join", "--superlink", "127.0.0.1:1", "--hospital-id", "st-olav", "--data", data,
        "--ca", ca, "--key", key, "--state", state,
    )  # fmt: skip


def test_the_approvals_file_lists_hash_and_identity(built_fab: Path, tmp_path: Path) -> None:
    ApprovalStore(tmp_path).approve(read_app(built_fab))
    [entry] = json.loads((tmp_path / "approved-apps.json").read_text())
    assert entry["fab_hash"] == read_app(built_fab).fab_hash
    assert {"publisher", "name", "version", "files", "approved_at"} <= set(entry)
