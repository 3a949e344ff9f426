"""The text classification recipe's arguments: its data columns and label map, and its training config."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..args import DataArguments, RecipeTrainingArguments


@dataclass
class ClassificationDataArguments(DataArguments):
    """Labelled texts: ``label<TAB>text`` lines, or csv/json columns; labels as names or as mapped ids."""

    label_mapping_file: str | None = field(
        default=None,
        metadata={
            "help": "File of 'id,name' lines (or one name per line). Needed when the data writes labels as ids; "
            "without it the label names are the distinct labels of the training data."
        },
    )
    text_column: str = field(default="text", metadata={"help": "Text column of csv/json data or of --dataset_name."})
    label_column: str = field(
        default="label",
        metadata={"help": "Label column of csv/json data or of --dataset_name (a ClassLabel column gives the names)."},
    )


@dataclass
class TextClassificationConfig(RecipeTrainingArguments):
    """Training configuration of ``recipes/text_classification.py``: ``TrainingArguments`` with the recipes'
    shared settings (:class:`~plm_recipes.args.RecipeSettings`); the loss is the model's cross-entropy."""
