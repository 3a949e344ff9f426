"""Data loading, validation and label maps: generic readers (``file:line`` errors) and label maps."""

from .labels import LabelMap
from .readers import (
    Record,
    data_format,
    read_json_lines,
    read_lines,
    read_records,
    read_text_lines,
    records_to_dataset,
)

__all__ = [
    "LabelMap",
    "Record",
    "data_format",
    "read_json_lines",
    "read_lines",
    "read_records",
    "read_text_lines",
    "records_to_dataset",
]
