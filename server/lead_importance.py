"""Federated lead importance: the hospitals' per-lead attribution means, combined into one global table.

Each hospital that was asked (`lead-importance` in its final evaluate instructions) sends, per task and
lead, `[mean importance, records]` (see `client/lead_importance.py`). The global importance of a lead is
the mean over every record of every hospital: the hospitals' means weighted by their record counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared import contract
from shared.data import LEADS

#: `{task: {lead: {"importance": mean over records, "records": count}}}`, leads in `LEADS` order.
LeadImportanceTable = dict[str, dict[str, dict[str, float | int]]]


def hospital_lead_importance(metrics: Mapping[str, Any], tasks: tuple[str, ...]) -> LeadImportanceTable:
    """One hospital's table from its evaluate reply (empty when it sent no lead importance)."""
    table: LeadImportanceTable = {}
    for task in tasks:
        keys = {lead: contract.lead_importance_key(task, lead) for lead in LEADS}
        if not all(key in metrics for key in keys.values()):
            continue
        table[task] = {}
        for lead, key in keys.items():
            mean, records = metrics[key]
            table[task][lead] = {"importance": float(mean), "records": int(records)}
    return table


def combine_lead_importance(tables: Iterable[LeadImportanceTable]) -> LeadImportanceTable:
    """Tables over disjoint records (hospitals, LOHO folds) combined into one mean over all records."""
    weighted: dict[str, dict[str, list[float]]] = {}
    for table in tables:
        for task, leads in table.items():
            for lead, entry in leads.items():
                total = weighted.setdefault(task, {}).setdefault(lead, [0.0, 0.0])
                total[0] += float(entry["importance"]) * int(entry["records"])
                total[1] += int(entry["records"])
    return {
        task: {
            lead: {"importance": total / records if records else 0.0, "records": int(records)}
            for lead, (total, records) in leads.items()
        }
        for task, leads in weighted.items()
    }


def lead_importance_table(
    reports: Mapping[str, Mapping[str, Any]], tasks: tuple[str, ...]
) -> LeadImportanceTable:
    """The global table over the hospitals in `reports` (their evaluate replies)."""
    return combine_lead_importance(hospital_lead_importance(metrics, tasks) for metrics in reports.values())


def ranked_leads(table: LeadImportanceTable, task: str) -> list[str]:
    """The task's leads from most to least important."""
    leads = table[task]
    return sorted(leads, key=lambda lead: float(leads[lead]["importance"]), reverse=True)
