"""Data loading, validation and label maps."""

from .labels import LabelMap
from .readers import Record, data_format, read_lines, read_records, read_text_lines, records_to_dataset

__all__ = [
    "LabelMap",
    "Record",
    "data_format",
    "read_lines",
    "read_records",
    "read_text_lines",
    "records_to_dataset",
]
