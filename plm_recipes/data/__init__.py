"""Data loading, validation and label maps: generic readers (``file:line`` errors), labelled pairs, label maps."""

from .labels import LabelMap
from .pairs import read_pairs
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
    "read_pairs",
    "read_records",
    "read_text_lines",
    "records_to_dataset",
]
