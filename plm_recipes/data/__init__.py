"""Data: generic readers of local files (``file:line`` errors), the recipe's splits as datasets (local files or
``--dataset_name``), preprocessing in ``Dataset.map``, and label maps."""

from .generated import generated_dataset
from .labels import LabelMap
from .preprocessing import (
    LENGTH_COLUMN,
    class_label_names,
    collator_rebuilds,
    convert_column,
    distinct_values,
    drop_line_numbers,
    encode_labels,
    label_names,
    map_split,
)
from .readers import (
    Record,
    data_format,
    iter_json_lines,
    iter_lines,
    iter_records,
    read_json_lines,
    read_lines,
    read_records,
    read_text_lines,
    records_to_dataset,
)
from .sources import (
    LINE_COLUMN,
    DataSplit,
    Origin,
    data_description,
    file_dataset,
    has_values,
    load_splits,
    num_rows,
)

__all__ = [
    "LENGTH_COLUMN",
    "LINE_COLUMN",
    "DataSplit",
    "LabelMap",
    "Origin",
    "Record",
    "class_label_names",
    "collator_rebuilds",
    "convert_column",
    "data_description",
    "data_format",
    "distinct_values",
    "drop_line_numbers",
    "encode_labels",
    "file_dataset",
    "generated_dataset",
    "has_values",
    "iter_json_lines",
    "iter_lines",
    "iter_records",
    "label_names",
    "load_splits",
    "map_split",
    "num_rows",
    "read_json_lines",
    "read_lines",
    "read_records",
    "read_text_lines",
    "records_to_dataset",
]
