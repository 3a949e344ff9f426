"""The command line's shared pieces: batching with a progress report, the argument types, texts from the
arguments; and every family's commands in one parser (tests/core/test_families.py)."""

from __future__ import annotations

import argparse

import pytest

from plm_recipes.cli import finite_float, in_batches, positive_int, score_threshold, texts_from_args
from plm_recipes.errors import PlmRecipesError


def test_in_batches_keeps_order_and_reports_items_per_second(capsys):
    calls = []

    def predict(chunk):
        calls.append(len(chunk))
        return [x * 10 for x in chunk]

    assert in_batches(predict, range(7), 3, what="scoring") == [0, 10, 20, 30, 40, 50, 60]
    assert calls == [3, 3, 1]
    err = capsys.readouterr().err
    assert "scoring: 7 items in" in err and "items/s" in err
    assert in_batches(predict, [1, 2], 3) == [10, 20] and capsys.readouterr().err == ""  # one batch: nothing to say
    assert in_batches(predict, [], 3) == []


@pytest.mark.parametrize(("kind", "text", "ok"), [
    (positive_int, "3", 3), (positive_int, "0", None), (positive_int, "two", None),
    (finite_float, "0.5", 0.5), (finite_float, "nan", None), (finite_float, "inf", None),
    (score_threshold, "-1", -1.0), (score_threshold, "1.5", None),
])
def test_argument_types(kind, text, ok):
    if ok is None:
        with pytest.raises(argparse.ArgumentTypeError):
            kind(text)
    else:
        assert kind(text) == ok


def test_texts_from_args(tmp_path, capsys):
    path = tmp_path / "texts.txt"
    path.write_text("一\n\n二\n", encoding="utf-8")
    assert texts_from_args(argparse.Namespace(text=["零"], file=str(path))) == ["零", "一", "二"]
    assert "skipped 1 blank line (2)" in capsys.readouterr().err
    with pytest.raises(PlmRecipesError, match="--text number 1 is empty"):
        texts_from_args(argparse.Namespace(text=[" "], file=None))
    with pytest.raises(PlmRecipesError, match="nothing to predict"):
        texts_from_args(argparse.Namespace(text=None, file=None))
