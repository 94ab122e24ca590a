"""The clinical evaluation report of a run: `RUN_DIR/report.html` (self-contained) and `RUN_DIR/report.md`.

    paths = write_report(Path("runs/loho"), compare=[Path("runs/local")])

`sections` turns results.json into a document (what is said), `statistics` computes confidence intervals
and operating points from the stored histograms, `figures` draws the plots and `render` writes HTML and
Markdown (how it is shown). The report reads only results.json: aggregates, never a record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from server.report.render import to_html, to_markdown
from server.report.sections import Run, build_document

#: Folder beside report.md holding its figures.
FIGURE_DIR = "report-figures"


@dataclass(frozen=True)
class ReportPaths:
    """Where the report was written."""

    html: Path
    markdown: Path


def write_report(
    run_dir: Path, compare: list[Path] | None = None, prevalence: float | None = None
) -> ReportPaths:
    """Write the report of the run in `run_dir`, compared with the runs in `compare` if any.

    `prevalence` is the common prevalence for adjusted PPV/NPV (default: that of all evaluated records).
    Raises FileNotFoundError or ValueError naming the folder when a run has no usable results.json.
    """
    if prevalence is not None and not 0.0 < prevalence < 1.0:
        raise ValueError(f"prevalence must lie in (0, 1), got {prevalence}")
    run = Run.load(run_dir)
    others = [Run.load(other) for other in compare or []]
    document = build_document(run, others, prevalence)
    paths = ReportPaths(run_dir / "report.html", run_dir / "report.md")
    paths.html.write_text(to_html(document), encoding="utf-8")
    paths.markdown.write_text(to_markdown(document, run_dir / FIGURE_DIR), encoding="utf-8")
    return paths


__all__ = ["FIGURE_DIR", "ReportPaths", "write_report"]
