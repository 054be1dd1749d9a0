"""Helpers for the training tests: a tiny BERT built from a config (never a download)
and small corpora whose entities a model can learn from the words alone."""

from __future__ import annotations

import random
import string
from pathlib import Path

from core.tokenize import tokenize

PERSONS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
PLACES = ["paris", "london", "rome", "berlin", "madrid", "oslo", "vienna", "lisbon"]
FILLER = ["today", "she", "saw", "the", "river", "and", "a", "cat", "in", "met", "went", "to"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_tiny_model(folder: Path, extra_words: list[str] = ()) -> Path:
    """Save a 2-layer, 32-wide BERT and its fast tokenizer into ``folder``.

    The vocabulary holds the corpus words plus single letters and ``##`` letters, so any
    lower-case word is still tokenized (into several sub-tokens) rather than ``[UNK]``.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    letters = list(string.ascii_lowercase + string.digits)
    words = [*PERSONS, *PLACES, *FILLER, *extra_words]
    vocab = SPECIAL + sorted(set(words)) + letters + [f"##{c}" for c in letters] + list(".,!?-'")
    vocab = list(dict.fromkeys(vocab))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5 takes the vocabulary as `vocab` (`vocab_file` is silently ignored).
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    # Seeded: the same starting weights in every session, so tests that train on it see
    # the same model each time rather than one that is sometimes weaker.
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def example(doc_id: int, text: str, spans: list[tuple[int, int, str]]) -> dict:
    """An example as ``project.examples()`` gives it."""
    return {"id": doc_id, "text": text, "tokens": tokenize(text), "split": "train", "spans": spans}


def sentence_corpus(n: int, seed: int = 0, start_id: int = 1) -> list[dict]:
    """``n`` short sentences where PER and LOC are recognisable by the word itself."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        person, place = rng.choice(PERSONS), rng.choice(PLACES)
        before = " ".join(rng.choice(FILLER) for _ in range(rng.randint(0, 3)))
        after = " ".join(rng.choice(FILLER) for _ in range(rng.randint(0, 4)))
        parts, spans, text = [before, person, "went to", place, after], [], ""
        for k, part in enumerate(parts):
            if not part:
                continue
            if text:
                text += " "
            if k == 1:
                spans.append((len(text), len(text) + len(part), "PER"))
            if k == 3:
                spans.append((len(text), len(text) + len(part), "LOC"))
            text += part
        docs.append(example(start_id + i, text + " .", spans))
    return docs
