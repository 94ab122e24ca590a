"""Task definitions: agree with PTB-XL's statement table, merge Challenge-equivalent codes."""

from __future__ import annotations

import csv

import pytest

from shared.data import TASK_NAMES, get_task

SUPERCLASSES = {"mi": "MI", "norm": "NORM", "sttc": "STTC", "hyp": "HYP", "cd": "CD"}


def test_superclass_tasks_list_exactly_the_diagnostic_statements_of_their_class(ptbxl500):
    with (ptbxl500 / "scp_statements.csv").open(newline="") as handle:
        statements = list(csv.DictReader(handle))
    for task_name, superclass in SUPERCLASSES.items():
        expected = {
            s[""] for s in statements if s["diagnostic"] == "1.0" and s["diagnostic_class"] == superclass
        }
        scp_codes = {code for code in get_task(task_name).label_codes[0] if not code.isdigit()}
        assert scp_codes == expected, task_name


def test_mi_includes_the_snomed_infarction_codes():
    snomed = {code for code in get_task("mi").label_codes[0] if code.isdigit()}

    assert snomed == {"164865005", "57054005", "54329005", "164867002", "1755008", "22298006"}


def test_challenge30_covers_the_30_scored_codes_with_equivalents_merged():
    task = get_task("challenge30")

    snomed = [code for codes in task.label_codes for code in codes if code.isdigit()]
    assert task.kind == "multilabel"
    assert len(snomed) == len(set(snomed)) == 30
    assert len(task.label_names) == 26
    for pair in (
        ("713427006", "59118001"),
        ("284470004", "63593006"),
        ("427172004", "17338001"),
        ("733534002", "164909002"),
    ):
        assert sum(set(pair) <= codes for codes in task.label_codes) == 1, pair


def test_encode_marks_any_matching_code_in_either_vocabulary():
    mi = get_task("mi")

    assert mi.encode([("IMI", "SR"), ("164865005",), ("NORM",), ()]).tolist() == [[1.0], [1.0], [0.0], [0.0]]


def test_unknown_task_names_the_known_ones():
    assert TASK_NAMES == ("mi", "norm", "sttc", "hyp", "cd", "challenge30")
    with pytest.raises(ValueError, match="unknown task 'af'; known tasks: mi, norm"):
        get_task("af")
