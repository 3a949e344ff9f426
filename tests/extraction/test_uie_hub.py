"""A UIE folder loads without this package: ``AutoModel.from_pretrained(folder, trust_remote_code=True)`` in a
Python that cannot import plm_recipes runs the code saved in the folder, and the card's plain-transformers snippet
finds the spans and probabilities the package's predictor finds. With the package, ``import plm_recipes`` alone
registers UIE, and the predictor loads the folder without remote code."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch
from helpers import DATA, ROOT, load_recipe

from plm_recipes.extraction import UIEModel, UIEPredictor, read_uie_examples

EXTRACTION = DATA / "extraction"


@pytest.fixture(scope="module")
def uie_folder(tiny_bert, tmp_path_factory):
    """A recipe run's folder over a UIE model whose pointers were set large by hand (many spans to compare)."""
    from transformers import AutoTokenizer

    tmp = tmp_path_factory.mktemp("uie-hub")
    model, _ = UIEModel.from_encoder(str(tiny_bert), max_seq_length=64, doc_stride=16)
    torch.manual_seed(1)
    with torch.no_grad():
        for head in (model.linear_start, model.linear_end):
            head.weight.normal_(std=2.0)
    model.save_pretrained(tmp / "handmade")
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp / "handmade")
    out = tmp / "uie"
    load_recipe("uie").main([
        "--model_name_or_path", str(tmp / "handmade"), "--train_file", str(EXTRACTION / "train.txt"),
        "--do_train", "--output_dir", str(out), "--max_steps", "1", "--learning_rate", "1e-8",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", "--use_cpu",
        "--disable_tqdm", "true", "--report_to", "none",
    ])
    return out


def test_the_folder_holds_its_model_code(uie_folder):
    config = json.loads((uie_folder / "config.json").read_text())
    assert config["auto_map"] == {"AutoConfig": "modeling.UIEConfig", "AutoModel": "modeling.UIEModel"}
    code = (uie_folder / "modeling.py").read_text(encoding="utf-8")
    imported = set(re.findall(r"^(?:from|import) (\S+)", code, re.M))
    assert imported == {"__future__", "inspect", "math", "dataclasses", "torch", "transformers", "transformers.utils",
                        ".losses"}  # nothing of plm_recipes but the loss beside it
    assert (uie_folder / "losses.py").is_file()


def test_import_plm_recipes_alone_registers_uie(uie_folder):
    code = ("import plm_recipes; from transformers import AutoModel; "
            f"m = AutoModel.from_pretrained({str(uie_folder)!r}); "  # no trust_remote_code: the package's class
            "print(type(m).__module__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["plm_recipes.extraction.modeling"]


def test_the_schema_default_template_is_the_models(uie_folder):
    from plm_recipes.extraction.modeling import UIEConfig
    from plm_recipes.extraction.schema import DEFAULT_RELATION_TEMPLATE

    assert UIEConfig().relation_template == DEFAULT_RELATION_TEMPLATE  # modeling.py repeats it: it imports no schema


def test_the_cards_plain_snippet_without_the_package_finds_the_predictors_spans(uie_folder, tmp_path):
    copy = tmp_path / "downloaded"
    shutil.copytree(uie_folder, copy)
    card = (copy / "README.md").read_text(encoding="utf-8")
    [_, plain] = re.findall(r"```python\n(.*?)```", card, re.S)
    assert "plm_recipes" not in plain and "trust_remote_code=True" in plain
    # texts that fit in one window of 64 tokens (one per character here): the snippet reads no windows
    queries = [(e.prompt, e.content) for e in read_uie_examples(EXTRACTION / "dev.txt")
               if len(e.prompt) + len(e.content) + 3 <= 64]
    assert len(queries) > 5
    script = tmp_path / "plain.py"
    script.write_text(
        # a Python that cannot import this package, whatever the installation (an editable one is on sys.path)
        f"import sys\nsys.modules['plm_recipes'] = None\nsys.path = [p for p in sys.path if not p.startswith("
        f"{str(ROOT)!r})]\n" + plain +
        f"\nimport json\nprint(json.dumps([extract(p, t) for p, t in {queries!r}]))\n"
        "print(sorted(name for name in sys.modules if name.startswith('plm_recipes')))\n",
        encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, timeout=300,
                          env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    *_, spans_line, modules_line = done.stdout.strip().splitlines()
    assert modules_line == "['plm_recipes']"  # only the blocker: nothing of the package was loaded
    plain_spans = json.loads(spans_line)

    predictor = UIEPredictor(str(uie_folder), device="cpu")
    assert predictor.model.config.max_seq_length >= 64
    expected = predictor.extract(queries)
    assert [[(s[0], s[1]) for s in found] for found in plain_spans] == \
        [[(s.start, s.end) for s in found] for found in expected]
    assert [s[2] for found in plain_spans for s in found] == \
        pytest.approx([s.probability for found in expected for s in found], abs=1e-5)
    assert sum(map(len, expected)) > 10  # the comparison is not between empty lists
