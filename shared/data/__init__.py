"""The hospital data layer: read WFDB folders, check and preprocess records, label them, split patients."""

from shared.data.census import census
from shared.data.dataset import LEADS, DataError, ECGDataset, RecordInfo, SkippedRecord
from shared.data.loading import load_dataset
from shared.data.splits import patient_split
from shared.data.tasks import TASK_NAMES, Task, get_task

__all__ = [
    "LEADS",
    "TASK_NAMES",
    "DataError",
    "ECGDataset",
    "RecordInfo",
    "SkippedRecord",
    "Task",
    "census",
    "get_task",
    "load_dataset",
    "patient_split",
]
