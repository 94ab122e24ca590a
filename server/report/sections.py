"""What the report says: results.json (and runs to compare with) turned into titled sections.

Only aggregates are read: the census, summary metrics, pooled score histograms, subgroup tables,
privacy spent and lead importance. The evaluation pools are the held-out hospitals for LOHO and each
hospital's test split for pooled, local and centralized runs; every table and plot is built per pool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.lead_importance import ranked_leads
from server.report import figures
from server.report.document import NOT_ESTIMABLE, Document, Figure, Section, Table, number, with_interval
from server.report.statistics import (
    METHODS_NOTE,
    Endpoint,
    OperatingRow,
    Pool,
    Proportion,
    discrimination,
    merged_pool,
    operating_row,
    oracle_row,
)
from shared.data import get_task
from shared.metrics import (
    SUBGROUPS,
    NotEstimable,
    calibration,
    pr_curve,
    prevalence_adjusted,
    roc_curve,
    sensitivity_specificity_curve,
)

#: Endpoints beyond this many get tables but no plots (a 30-label task would otherwise drown the report).
MAX_PLOTTED_ENDPOINTS = 4


@dataclass(frozen=True)
class Run:
    """One run folder's results, as the report reads them."""

    name: str
    results: dict[str, Any]

    @classmethod
    def load(cls, run_dir: Path) -> Run:
        path = run_dir / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"{run_dir}: no results.json (is this a finished cardiofed run folder?)")
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from error
        missing = [key for key in ("protocol", "tasks", "config", "hospitals") if key not in results]
        if missing:
            raise ValueError(f"{path}: not a cardiofed results file (missing {', '.join(missing)})")
        return cls(run_dir.resolve().name, results)

    @property
    def protocol(self) -> str:
        return str(self.results["protocol"])

    @property
    def seed(self) -> int:
        return int(self.results["config"].get("seed", 0))

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(task, label, name)
            for task in self.results["tasks"]
            for label, name in enumerate(get_task(task).label_names)
        ]

    def pools(self) -> list[Pool]:
        """The evaluation pools: held-out hospitals (LOHO) or hospitals' test splits."""
        if self.protocol == "loho":
            return [
                Pool(
                    f"hospital {fold['held_out']}",
                    fold.get("held_out_histograms", {}),
                    fold["held_out_metrics"],
                )
                for fold in self.results["folds"]
            ]
        metrics = self.results["metrics"]
        stored = metrics.get("histograms", {}).get("per_hospital", {})
        return [
            Pool(f"hospital {hospital}", stored.get(hospital, {}), metrics["per_hospital"].get(hospital))
            for hospital in sorted(stored)
        ]

    def overall_pool(self) -> Pool:
        """Every evaluated record once: all held-out hospitals (LOHO) or the pooled evaluation."""
        if self.protocol == "loho":
            return merged_pool("all held-out hospitals", self.pools(), self.endpoints())
        stored = self.results["metrics"].get("histograms", {}).get("pooled", {})
        name = "every model at the other hospitals" if self.protocol == "local" else "all hospitals (test)"
        return Pool(name, stored, self.results["metrics"].get("pooled"))

    def lead_importance(self) -> dict[str, Any] | None:
        table = self.results.get("lead_importance") or self.results.get("metrics", {}).get("lead_importance")
        return table or None


def build_document(run: Run, compare: list[Run], prevalence: float | None) -> Document:
    """The full report for `run`, with a comparison section when `compare` names other runs."""
    endpoints = run.endpoints()
    plotted = endpoints[:MAX_PLOTTED_ENDPOINTS]
    sections = [
        _overview(run, endpoints),
        _census(run),
        _performance(run, endpoints),
        _curves(run, plotted),
        _learning(run),
        _subgroups(run, endpoints),
        _calibration(run, plotted),
        _prevalence(run, endpoints, prevalence),
    ]
    if run.protocol == "local":
        sections.append(_cross_site(run, endpoints))
    if (table := run.lead_importance()) is not None:
        sections.append(_lead_importance(table))
    sections.append(_privacy(run))
    if compare:
        sections.append(_comparison([run, *compare], endpoints))
    sections.append(_configuration(run))
    subtitle = f"{run.protocol} · {run.results['model']} · task {run.results['task']} · run {run.name}"
    return Document(title="cardiofed evaluation report", subtitle=subtitle, sections=sections)


# --- sections -----------------------------------------------------------------------------------------


def _overview(run: Run, endpoints: list[Endpoint]) -> Section:
    protocols = {
        "loho": "leave-one-hospital-out: each hospital in turn is held out, the others train, and the "
        "held-out hospital evaluates the model it never contributed to",
        "pooled": "federated training on every hospital's training split; each hospital evaluates on its "
        "test split",
        "local": "local-only baseline: each hospital trains alone; each model is evaluated at every hospital",
        "centralized": "centralised upper bound: the same model trained on the union of the training splits",
    }
    blocks: list[str | Table | Figure] = [
        f"Protocol: {protocols.get(run.protocol, run.protocol)}.",
        f"Hospitals: {', '.join(sorted(run.results['hospitals']))}. "
        f"Endpoints: {', '.join(e.title for e in endpoints)}.",
        METHODS_NOTE,
        f"Cells reading '{NOT_ESTIMABLE}' cannot be computed from these data (e.g. a class is absent or "
        "too rare); the notes under each table give the reason.",
    ]
    if run.results.get("census_problems"):
        blocks.append("Census problems: " + "; ".join(run.results["census_problems"]))
    return Section("Overview and methods", blocks)


def _census(run: Run) -> Section:
    endpoint_keys = [f"{e.task}/{e.label}" for e in run.endpoints()]
    columns = [
        "hospital",
        "records (all)",
        "train",
        "val",
        "test",
        "patients",
        "skipped",
        *[f"positives {key}" for key in endpoint_keys],
        "sampling rates (Hz: records)",
        "flags",
    ]
    rows = []
    for hospital, entry in sorted(run.results["hospitals"].items()):
        census = entry["census"]
        records = census.get("records", {})
        positives = census.get("positives", {}).get("all", {})
        rates = ", ".join(
            f"{rate}: {count}" for rate, count in sorted(census.get("sampling_rates", {}).items())
        )
        flags = ", ".join(f"{flag}: {count}" for flag, count in sorted(census.get("flags", {}).items()))
        rows.append(
            [
                hospital,
                *[str(records.get(s, "")) for s in ("all", "train", "val", "test")],
                str(census.get("patients", "")),
                str(census.get("skipped", "")),
                *[str(positives.get(key, "")) for key in endpoint_keys],
                rates,
                flags or "none",
            ]
        )
    table = Table(columns, rows, "Data census by hospital (aggregate counts each hospital reported)")
    return Section("Data census", [table])


def _proportion_cell(proportion: Proportion) -> str:
    return with_interval(proportion.value, proportion.interval)


def _operating_cells(row: OperatingRow | None) -> list[str]:
    if row is None:
        return [NOT_ESTIMABLE] * 6
    return [
        f"{row.threshold:.3f}",
        *(_proportion_cell(p) for p in (row.sensitivity, row.specificity, row.ppv, row.npv)),
        number(row.f1_weighted),
    ]


def _interval_note(label: str, pool: str, interval: object) -> list[str]:
    return (
        [f"{pool}: {label} CI {NOT_ESTIMABLE}: {interval.reason}"]
        if isinstance(interval, NotEstimable)
        else []
    )


def _performance_table(run: Run, endpoint: Endpoint, pools: list[Pool], caption: str) -> Table:
    columns = [
        "evaluated on",
        "n",
        "positives",
        "AUROC [95% CI]",
        "AUPRC [95% CI]",
        "threshold from",
        "threshold",
        "sensitivity",
        "specificity",
        "PPV",
        "NPV",
        "weighted F1",
    ]
    rows, notes = [], []
    for pool in pools:
        histogram = pool.histogram(endpoint)
        if histogram is None:
            notes.append(f"{pool.name}: no score histograms in results.json for {endpoint.title}")
            continue
        stats = discrimination(histogram, run.seed)
        head = [
            pool.name,
            str(stats.n),
            str(stats.positives),
            with_interval(stats.auroc, stats.auroc_ci),
            with_interval(stats.auprc, stats.auprc_ci),
        ]
        rows.append([*head, "own data (oracle Youden)", *_operating_cells(oracle_row(histogram))])
        transferred = pool.transferred_threshold(endpoint)
        if transferred is not None:
            source = "training hospitals' validation" if run.protocol == "loho" else "pooled validation"
            rows.append(
                [
                    "",
                    "",
                    "",
                    "",
                    "",
                    f"{source} (transferred)",
                    *_operating_cells(operating_row(histogram, transferred)),
                ]
            )
        notes += _interval_note("AUROC", pool.name, stats.auroc_ci)
        notes += _interval_note("AUPRC", pool.name, stats.auprc_ci)
        if stats.auroc is None:
            notes.append(f"{pool.name}: AUROC {NOT_ESTIMABLE}: needs positive and negative records")
    return Table(columns, rows, caption, notes)


def _performance(run: Run, endpoints: list[Endpoint]) -> Section:
    if run.protocol == "loho":
        title = "Held-out performance by fold"
        intro = (
            "Each row pair is one fold: the held-out hospital's metrics on all its records, at its own "
            "(oracle) Youden threshold and at the Youden threshold transferred from the training "
            "hospitals' pooled validation data, as a deployment would have to choose it."
        )
    else:
        title = "Test performance by hospital"
        intro = (
            "Each hospital's test split, and all of them pooled, at the oracle Youden threshold and at "
            "the threshold transferred from the pooled validation data."
        )
    blocks: list[str | Table | Figure] = [intro]
    pools = [*run.pools(), run.overall_pool()]
    for endpoint in endpoints:
        blocks.append(_performance_table(run, endpoint, pools, endpoint.title))
    return Section(title, blocks)


def _curves(run: Run, endpoints: list[Endpoint]) -> Section:
    what = "held-out hospital" if run.protocol == "loho" else "hospital (test split)"
    blocks: list[str | Table | Figure] = [
        f"ROC and precision-recall curves per {what}; dotted horizontal lines mark each pool's prevalence "
        "(the PR curve of a useless model). Below, sensitivity and specificity against the threshold over "
        "all evaluated records."
    ]
    overall = run.overall_pool()
    for index, endpoint in enumerate(endpoints):
        pools = [pool for pool in [*run.pools(), overall] if pool.histogram(endpoint) is not None]
        histograms = {pool.name: pool.histogram(endpoint) for pool in pools}
        roc = {name: roc_curve(*h) for name, h in histograms.items() if h is not None}
        pr = {name: pr_curve(*h) for name, h in histograms.items() if h is not None}
        prevalence = {
            name: float(h[0].sum() / max(h[0].sum() + h[1].sum(), 1))
            for name, h in histograms.items()
            if h is not None
        }
        if not roc:
            blocks.append(f"{endpoint.title}: no curves (no stored histograms).")
            continue
        blocks.append(
            Figure(
                f"roc-pr-{index}",
                f"{endpoint.title}: ROC and PR curves",
                figures.roc_and_pr(roc, pr, prevalence),
            )
        )
        overall_histogram = overall.histogram(endpoint)
        curve = None if overall_histogram is None else sensitivity_specificity_curve(*overall_histogram)
        if curve is not None and overall_histogram is not None:
            marked = {}
            if (oracle := oracle_row(overall_histogram)) is not None:
                marked["Youden"] = oracle.threshold
            blocks.append(
                Figure(
                    f"threshold-{index}",
                    f"{endpoint.title}: {overall.name}, threshold vs sensitivity/specificity",
                    figures.threshold_curve(curve, marked),
                )
            )
    return Section("ROC and precision-recall curves", blocks)


def _learning(run: Run) -> Section:
    if run.protocol == "loho":
        series = {
            f"held out {fold['held_out']}": [(r["round"], r.get("held_out_auroc")) for r in fold["rounds"]]
            for fold in run.results["folds"]
        }
        figure = figures.auroc_by_round(series, "held-out AUROC")
        rows = [[name, *[number(v) for _, v in points]] for name, points in series.items()]
        rounds = max((len(points) for points in series.values()), default=0)
        table = Table(["fold", *[f"round {r + 1}" for r in range(rounds)]], rows, "Held-out AUROC by round")
        return Section(
            "Held-out AUROC by round",
            [Figure("auroc-by-round", "Held-out AUROC by round, per fold", figure), table],
        )
    rounds = run.results.get("rounds", [])
    hospitals = sorted({h for r in rounds for h in r.get("validation_auroc", {})})
    series = {
        f"hospital {h}": [(r["round"], r["validation_auroc"].get(h)) for r in rounds] for h in hospitals
    }
    if any("pooled_validation_auroc" in r for r in rounds):
        series["pooled"] = [(r["round"], r.get("pooled_validation_auroc")) for r in rounds]
    if not series:
        return Section("Validation AUROC by round", ["No per-round validation (local-only training)."])
    figure = figures.auroc_by_round(series, "validation AUROC")
    return Section(
        "Validation AUROC by round", [Figure("auroc-by-round", "Validation AUROC by round", figure)]
    )


def _subgroup_cell(row: Mapping[str, Any]) -> str:
    if not row["hospitals"]:
        return "suppressed (fewer than the minimum cell size)"
    cell = (
        f"{with_interval(row['auroc'], tuple(row['auroc_ci']) if row['auroc_ci'] else None)} "
        f"(n={row['n']}, pos={row['positives']})"
    )
    if row["suppressed_at"]:
        cell += f"; suppressed at {', '.join(row['suppressed_at'])}"
    return cell


def _subgroups(run: Run, endpoints: list[Endpoint]) -> Section:
    blocks: list[str | Table | Figure] = [
        "AUROC [DeLong 95% CI] by age band and sex. A hospital reports a subgroup only if it has at least "
        f"{run.results['config'].get('min_cell_size', 10)} patients in it; a suppressed cell is shown as "
        "such, and a pooled cell names the hospitals that suppressed it."
    ]
    for endpoint in endpoints:
        key = f"{endpoint.task}/{endpoint.name}"
        if run.protocol == "loho":
            tables = {f"held out {f['held_out']}": f["subgroups"].get(key, {}) for f in run.results["folds"]}
        else:
            tables = {"pooled": run.results["metrics"]["subgroups"].get(key, {})}
        rows, notes = [], []
        for subgroup in SUBGROUPS:
            cells = []
            for column, table in tables.items():
                row = table.get(subgroup)
                cells.append("" if row is None else _subgroup_cell(row))
                if row is not None and row["hospitals"] and row["note"]:
                    notes.append(f"{column}, {subgroup}: {row['note']}")
            rows.append([subgroup, *cells])
        blocks.append(Table(["subgroup", *tables], rows, f"{endpoint.title}: subgroup AUROC", notes))
    return Section("Subgroups", blocks)


def _calibration(run: Run, endpoints: list[Endpoint]) -> Section:
    blocks: list[str | Table | Figure] = [
        "Reliability curve (10 equal-width bins of predicted probability), Brier score and expected "
        "calibration error (ECE), from the score histograms (each score taken at its bin's centre)."
    ]
    pools = [*run.pools(), run.overall_pool()]
    for index, endpoint in enumerate(endpoints):
        results = {}
        for pool in pools:
            histogram = pool.histogram(endpoint)
            if histogram is not None:
                results[pool.name] = calibration(*histogram)
        rows = [
            [name, str(sum(b["count"] for b in r["reliability"])), number(r["brier"]), number(r["ece"])]
            for name, r in results.items()
        ]
        blocks.append(Table(["evaluated on", "n", "Brier", "ECE"], rows, f"{endpoint.title}: calibration"))
        if results:
            blocks.append(
                Figure(f"calibration-{index}", f"{endpoint.title}: reliability", figures.reliability(results))
            )
    return Section("Calibration", blocks)


def _prevalence(run: Run, endpoints: list[Endpoint], prevalence: float | None) -> Section:
    blocks: list[str | Table | Figure] = []
    for endpoint in endpoints:
        overall = run.overall_pool().histogram(endpoint)
        target = prevalence
        if target is None and overall is not None and overall[0].sum() + overall[1].sum() > 0:
            target = float(overall[0].sum() / (overall[0].sum() + overall[1].sum()))
        if target is None:
            blocks.append(f"{endpoint.title}: no records to take a reference prevalence from.")
            continue
        rows = []
        for pool in run.pools():
            histogram = pool.histogram(endpoint)
            if histogram is None:
                continue
            observed = histogram[0].sum() / max(histogram[0].sum() + histogram[1].sum(), 1)
            points = {"oracle": oracle_row(histogram)}
            if (transferred := pool.transferred_threshold(endpoint)) is not None:
                points["transferred"] = operating_row(histogram, transferred)
            for kind, point in points.items():
                if point is None:
                    rows.append([pool.name, kind, number(float(observed)), *[NOT_ESTIMABLE] * 6])
                    continue
                adjusted = prevalence_adjusted(point.sensitivity.value, point.specificity.value, target)
                rows.append(
                    [
                        pool.name,
                        kind,
                        number(float(observed)),
                        number(point.sensitivity.value),
                        number(point.specificity.value),
                        number(point.ppv.value),
                        number(adjusted["ppv"]),
                        number(point.npv.value),
                        number(adjusted["npv"]),
                    ]
                )
        columns = [
            "evaluated on",
            "threshold",
            "observed prevalence",
            "sensitivity",
            "specificity",
            "PPV observed",
            f"PPV at {target:.3f}",
            "NPV observed",
            f"NPV at {target:.3f}",
        ]
        blocks.append(
            Table(columns, rows, f"{endpoint.title}: PPV and NPV at a common prevalence of {target:.3f}")
        )
    source = (
        "chosen with --prevalence" if prevalence is not None else "the prevalence of all evaluated records"
    )
    blocks.insert(
        0,
        "PPV and NPV depend on prevalence; to compare hospitals, each operating point's "
        f"sensitivity and specificity are carried to a common prevalence ({source}) by Bayes' rule.",
    )
    return Section("Prevalence-adjusted PPV and NPV", blocks)


def _cross_site(run: Run, endpoints: list[Endpoint]) -> Section:
    cross_site = run.results["metrics"]["cross_site"]
    evaluated_at = sorted({h for row in cross_site.values() for h in row})
    blocks: list[str | Table | Figure] = [
        "AUROC of each hospital's own model (rows) at every hospital (columns); the diagonal is the "
        "hospital's own test split, off-diagonal cells all records of the other hospital."
    ]
    for endpoint in endpoints:
        rows = []
        for owner in sorted(cross_site):
            cells = []
            for hospital in evaluated_at:
                task_metrics = cross_site[owner].get(hospital, {}).get(endpoint.task)
                if task_metrics is None:
                    cells.append("")
                    continue
                label = task_metrics["labels"][endpoint.name] if "labels" in task_metrics else task_metrics
                cells.append(number(label["auroc"]))
            rows.append([f"model of {owner}", *cells])
        blocks.append(
            Table(["", *[f"at {h}" for h in evaluated_at]], rows, f"{endpoint.title}: cross-site AUROC")
        )
    return Section("Cross-site matrix (local-only models)", blocks)


def _lead_importance(table: Mapping[str, Any]) -> Section:
    blocks: list[str | Table | Figure] = [
        "Federated lead importance: each hospital attributed the model's logit to every lead of its own "
        "records (integrated gradients) and sent only the mean attribution mass per lead and its record "
        "count; the coordinator weighted the hospitals' means by their counts."
    ]
    for task, leads in table.items():
        order = ranked_leads(dict(table), task)
        rows = [
            [str(rank), lead, f"{leads[lead]['importance']:.4g}", str(leads[lead]["records"])]
            for rank, lead in enumerate(order, start=1)
        ]
        blocks.append(Table(["rank", "lead", "importance", "records"], rows, f"{task}: lead importance"))
        values = {lead: float(leads[lead]["importance"]) for lead in order}
        blocks.append(
            Figure(
                f"lead-importance-{task}", f"{task}: lead importance", figures.lead_importance(values, task)
            )
        )
    return Section("Lead importance", blocks)


def _privacy(run: Run) -> Section:
    privacy = run.results.get("privacy", {})
    if not privacy.get("dp"):
        blocks: list[str | Table | Figure] = ["DP-SGD was off: no hospital spent privacy budget."]
    else:
        blocks = [
            f"DP-SGD at every hospital, target epsilon {privacy.get('target_epsilon')}, "
            f"delta {privacy.get('delta')} (epsilon as each hospital's own ledger reports it)."
        ]
    if privacy.get("central_dp", "off") != "off":
        blocks.append(
            f"Server-side DP: {privacy['central_dp']}, noise {privacy.get('central_dp_noise')}, "
            f"clip {privacy.get('central_dp_clip')}."
        )
    rows = []
    for hospital, spent in sorted(privacy.get("hospitals", {}).items()):
        refusals = "; ".join(
            f"fold {r.get('fold')} round {r['round']}: {r['reason']}" for r in spent["refused"]
        )
        rows.append(
            [
                hospital,
                number(spent.get("epsilon"), 2) if spent.get("epsilon") is not None else "none",
                number(spent.get("noise_multiplier"), 3) if spent.get("noise_multiplier") else "none",
                str(spent.get("steps", 0)),
                refusals or "none",
            ]
        )
    blocks.append(
        Table(
            ["hospital", "epsilon spent", "noise multiplier", "DP steps", "refusals"],
            rows,
            "Privacy spent per hospital",
        )
    )
    return Section("Privacy", blocks)


def _comparison(runs: list[Run], endpoints: list[Endpoint]) -> Section:
    blocks: list[str | Table | Figure] = [
        "Runs side by side, each over all the records it evaluated (LOHO: every held-out hospital; pooled "
        "and centralized: every test split; local: every model at the other hospitals)."
    ]
    for index, endpoint in enumerate(endpoints):
        rows, roc, pr, prevalence = [], {}, {}, {}
        for run in runs:
            config, privacy = run.results["config"], run.results.get("privacy", {})
            spent = [
                h["epsilon"] for h in privacy.get("hospitals", {}).values() if h.get("epsilon") is not None
            ]
            dp = f"DP, max epsilon {max(spent):.2f}" if privacy.get("dp") and spent else "no DP"
            head = [run.name, run.protocol, str(run.results["model"]), str(config.get("strategy", "")), dp]
            histogram = run.overall_pool().histogram(endpoint)
            if histogram is None:
                rows.append([*head, "", "", NOT_ESTIMABLE, NOT_ESTIMABLE])
                continue
            stats = discrimination(histogram, run.seed)
            rows.append(
                [
                    *head,
                    str(stats.n),
                    str(stats.positives),
                    with_interval(stats.auroc, stats.auroc_ci),
                    with_interval(stats.auprc, stats.auprc_ci),
                ]
            )
            roc[run.name], pr[run.name] = roc_curve(*histogram), pr_curve(*histogram)
            prevalence[run.name] = stats.positives / max(stats.n, 1)
        columns = [
            "run",
            "protocol",
            "model",
            "strategy",
            "privacy",
            "n",
            "positives",
            "AUROC [95% CI]",
            "AUPRC [95% CI]",
        ]
        blocks.append(Table(columns, rows, f"{endpoint.title}: comparison"))
        if roc and index < MAX_PLOTTED_ENDPOINTS:
            blocks.append(
                Figure(
                    f"compare-{index}",
                    f"{endpoint.title}: runs compared",
                    figures.roc_and_pr(roc, pr, prevalence),
                )
            )
    return Section("Comparison of runs", blocks)


def _configuration(run: Run) -> Section:
    config_rows = [[key, json.dumps(value)] for key, value in sorted(run.results["config"].items())]
    version_rows = [
        [package, str(version)] for package, version in sorted(run.results.get("versions", {}).items())
    ]
    return Section(
        "Configuration and versions",
        [
            Table(["key", "value"], config_rows, "Exact run configuration"),
            Table(["package", "version"], version_rows, "Versions"),
        ],
    )
