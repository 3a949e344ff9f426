"""The model card's usage section for the bi-encoder matching recipes (DSSM, Sentence-Transformer)."""

BI_ENCODER_USAGE = """\
```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{model}")
embeddings = model.encode(["平板：可以触屏的便携电脑。", "屏幕很清晰，追剧很爽"])
model.similarity(embeddings[:1], embeddings[1:])  # cosine; >= the threshold in matching_config.json is a match
```

Rank categories for a comment (their embeddings cached next to the model):
`plm-recipes predict matching --model {model} --labels types_desc.txt --text "..."`
"""
