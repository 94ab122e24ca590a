"""The evaluation report from a real (small) LOHO run: stored histograms, model files, sections, no records.

The report is rendered from the suite's shared LOHO run (tests/conftest.py), and from edited copies of its
results.json for tiny-n and comparison cases.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from server import report_commands
from server.evaluation import histogram_from_stored
from server.report import write_report
from shared.data import load_dataset
from shared.metrics import SCORE_BINS, auroc
from shared.model_file import load_model_file

pytestmark = pytest.mark.slow

SECTIONS = (
    "Data census",
    "Held-out performance by fold",
    "ROC and precision-recall curves",
    "Held-out AUROC by round",
    "Subgroups",
    "Calibration",
    "Prevalence-adjusted PPV and NPV",
    "Lead importance",
    "Privacy",
    "Configuration and versions",
)


@pytest.fixture(scope="module")
def run_dir(loho_run: tuple[Path, dict[str, Any]]) -> Path:
    """The suite's shared LOHO run (its synthetic hospitals, lead importance on)."""
    return loho_run[0]


def _results(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "results.json").read_text())


def _copy_run(run_dir: Path, destination: Path, edit: Any = None) -> Path:
    destination.mkdir(parents=True)
    results = _results(run_dir)
    if edit is not None:
        edit(results)
    (destination / "results.json").write_text(json.dumps(results))
    return destination


def test_results_keep_the_pooled_histograms_and_a_model_per_fold(run_dir: Path) -> None:
    results = _results(run_dir)
    for fold in results["folds"]:
        pos, neg = histogram_from_stored(fold["held_out_histograms"]["mi"]["0"])
        assert len(pos) == SCORE_BINS
        assert int(pos.sum() + neg.sum()) == fold["held_out_metrics"]["mi"]["n"]
        assert auroc(pos, neg) == fold["held_out_metrics"]["mi"]["auroc"]
        loaded = load_model_file(run_dir / "models" / f"{fold['held_out']}.pt")
        assert (loaded.model_name, loaded.sample_rate) == ("resnet1d", 100)
    assert set(results["lead_importance"]["mi"]) == {
        "I",
        "II",
        "III",
        "aVR",
        "aVL",
        "aVF",
        "V1",
        "V2",
        "V3",
        "V4",
        "V5",
        "V6",
    }


def test_report_has_every_section_with_embedded_figures(run_dir: Path) -> None:
    paths = write_report(run_dir)
    page = paths.html.read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page
        assert f"## {title}" in paths.markdown.read_text()
    assert "DeLong" in page and "Clopper-Pearson" in page and "bootstrap" in page
    assert page.count('src="data:image/png;base64,') >= 5
    assert "<script" not in page and 'src="http' not in page  # self-contained, nothing to fetch
    figure_links = [line for line in paths.markdown.read_text().splitlines() if line.startswith("![")]
    assert figure_links and all((run_dir / link.split("(")[1].rstrip(")")).is_file() for link in figure_links)


def test_no_record_or_patient_appears_anywhere(run_dir: Path, loho_hospitals: Path) -> None:
    write_report(run_dir)
    data = load_dataset(loho_hospitals, hospital_by="site", progress=False)  # the hospitals of `run_dir`
    outputs = [(run_dir / name).read_text() for name in ("results.json", "report.html", "report.md")]
    for record in data.records:
        for text in outputs:
            assert record.record not in text
            assert Path(record.record).name not in text
            assert f'"{record.patient_id}"' not in text and f">{record.patient_id}<" not in text


def test_tiny_and_one_class_hospitals_render_as_not_estimable(run_dir: Path, tmp_path: Path) -> None:
    def shrink(results: dict[str, Any]) -> None:
        tiny, one_class = results["folds"][0], results["folds"][1]
        tiny["held_out_histograms"]["mi"]["0"] = {"pos": {"2000": 1}, "neg": {"1900": 9, "2100": 7}}
        one_class["held_out_histograms"]["mi"]["0"] = {"pos": {}, "neg": {"2000": 17}}

    paths = write_report(_copy_run(run_dir, tmp_path / "tiny", shrink))
    page = paths.html.read_text()
    assert "not estimable" in page
    assert "DeLong needs at least 2 positive and 2 negative records, got 1 and 16" in page
    assert "hospital 1: AUROC not estimable" in page


def test_compare_puts_runs_side_by_side_from_the_command_line(run_dir: Path, tmp_path: Path) -> None:
    main_run = _copy_run(run_dir, tmp_path / "fedavg")
    other = _copy_run(run_dir, tmp_path / "with-dp", lambda r: r["privacy"].update(dp=True))
    parser = argparse.ArgumentParser()
    report_commands.register(parser.add_subparsers())
    args = parser.parse_args(["report", str(main_run), "--compare", str(other), "--prevalence", "0.2"])
    assert args.handler(args) == 0
    page = (main_run / "report.html").read_text()
    assert "<h2>Comparison of runs</h2>" in page
    assert "<td>fedavg</td>" in page and "<td>with-dp</td>" in page
    assert "PPV at 0.200" in page


def test_a_folder_without_results_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    report_commands.register(parser.add_subparsers())
    args = parser.parse_args(["report", str(tmp_path)])
    assert args.handler(args) == 1
    assert "no results.json" in " ".join(capsys.readouterr().err.split())  # rich wraps long lines
