"""The report as a plain document: sections of paragraphs, tables and figures, before any format.

Assembly (`server.report.sections`) decides what the report says; rendering (`server.report.render`) only
decides how HTML and Markdown show it, so the two formats cannot say different things.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Shown wherever a number cannot be computed from the data (one class missing, too few records, ...).
NOT_ESTIMABLE = "not estimable"


@dataclass(frozen=True)
class Table:
    """A table of already formatted cells; `notes` explain what is missing or how it was computed."""

    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Figure:
    """A PNG image with its caption; `name` is its file name stem in the Markdown report's figure folder."""

    name: str
    caption: str
    png: bytes


Block = str | Table | Figure  # a str is a paragraph


@dataclass
class Section:
    """A titled part of the report, its blocks in reading order."""

    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass(frozen=True)
class Document:
    """The whole report."""

    title: str
    subtitle: str
    sections: list[Section]


def number(value: float | None, digits: int = 3) -> str:
    """A metric for a table cell; None (undefined for these data) shows as not estimable."""
    return NOT_ESTIMABLE if value is None else f"{value:.{digits}f}"


def with_interval(value: float | None, interval: object, digits: int = 3) -> str:
    """`0.812 [0.701, 0.903]`; an interval that is not a (low, high) pair shows as not estimable."""
    if value is None:
        return NOT_ESTIMABLE
    if isinstance(interval, tuple) and len(interval) == 2:
        low, high = interval
        return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
    return f"{value:.{digits}f} [CI {NOT_ESTIMABLE}]"
