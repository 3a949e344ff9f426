"""The run record: run_config.yaml, what it holds and what the model card takes from it."""

from __future__ import annotations

import json

from test_trainer_mixin import Seq2SeqConfig

from plm_recipes.run_config import RunConfig


def test_run_config_is_json_safe_and_has_no_secrets(tmp_path):
    args = Seq2SeqConfig(str(tmp_path), hub_token="secret-token", learning_rate=3e-4, report_to="none")
    record = RunConfig.from_arguments("t5_copy", args)
    text = record.to_yaml()
    assert "secret-token" not in text and "hub_token" not in text
    assert record.changed()["learning_rate"] == 3e-4 and "output_dir" not in record.changed()
    assert json.loads(json.dumps(record.values))  # plain values only
