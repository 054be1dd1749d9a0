"""Turn texts into entities with a trained model: character offsets, label, confidence.

The same path serves the "Try it" pane, model-assisted annotation, evaluation and the
dev scores during training, so all of them see exactly what training saw: text is cut
into words by ``core.tokenize``, words into sub-tokens by the model's fast tokenizer, and
each word is read from the prediction at its first sub-token.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.tagging import tags_to_spans
from core.tokenize import DEFAULT_TOKENIZER, TOKENIZERS, tokenize
from core.training.context import encode_in_context
from core.training.data import (
    Window,
    best_window_per_word,
    collate,
    sorted_batches,
)
from core.training.loading import (
    device_name,
    iob2_tags,
    load_token_classifier,
    load_tokenizer,
    resolve_device,
    resolve_model_path,
)
from core.training.onnx_backend import (
    OnnxTokenClassifier,
    choose_backend,
    default_threads,
    onnx_precision,
)
from core.training.precision import choose_precision, detect_capabilities, set_attention

Tokens = Sequence[Sequence[int]]
#: Each text's group (None: a text of its own); texts of one group are read together.
Groups = Sequence[Hashable | None] | None
#: The documents (``{text, tokens}``) just before and just after a text, in text order.
Neighbours = tuple[Sequence[dict], Sequence[dict]]
#: A batch's length is rounded up to a multiple of this many sub-tokens (padding, which
#: the attention mask hides), so that batch shapes repeat: the CPU kernels are built and
#: cached per shape (see core.deploy.memory), and ever-new shapes cost time and memory.
LENGTH_BUCKET = 16


class Predictor:
    """A model folder loaded once, ready to tag batches of texts.

    ``predict(texts)`` returns, per text, entities ``{start, end, label, score, text}``;
    ``score`` is the mean probability of the predicted tag over the entity's words.
    ``precision="auto"`` runs bf16 autocast where the device computes bf16 natively (a
    GPU with bf16, a CPU with AMX- or AVX-512-bf16: about 3x faster on such a CPU, the
    same entities in practice) and the attention kernel fastest there; ``"no"`` is fp32.

    A model trained with document context (``context_tokens`` in its train_config.json)
    reads the sentences of one group with their neighbours, when the caller says which
    texts belong together (``groups``); a single text is read on its own, as always.

    ``backend="auto"`` runs a folder that holds an exported ``model.onnx`` on ONNX
    Runtime with ``threads`` (default: the cores this process may use), anything else on
    torch; ``"torch"`` / ``"onnx"`` insist. Only the logits come from the backend.
    """

    def __init__(
        self,
        model_dir: str | Path,
        device: str = "auto",
        batch_size: int = 32,
        max_length: int | None = None,
        precision: str = "auto",
        backend: str = "auto",
        threads: int | None = None,
    ) -> None:
        path = resolve_model_path(str(model_dir))
        #: ``torch`` or ``onnx`` (ONNX Runtime): ``auto`` runs ONNX where the folder holds
        #: an exported ``model.onnx``; words, windows and entities are the same either way.
        self.backend = choose_backend(path, backend)
        tokenizer = load_tokenizer(path)
        if self.backend == "onnx":
            model = OnnxTokenClassifier(path, threads or default_threads(), _onnx_device(device))
        else:
            model = load_token_classifier(path)
            if threads:  # torch's thread count is the process's: only when asked
                torch.set_num_threads(threads)
        saved = _saved_config(path)
        if max_length is None:
            max_length = int(saved.get("max_length") or 512)
        max_length = min(max_length, getattr(model.config, "max_position_embeddings", 512))
        overlap = min(int(saved.get("window_overlap") or 64), max_length // 4)
        # The context a run chose for prediction (0 where dev F1 was better without it);
        # else the context it trained with; older runs: none.
        chosen = saved.get("chosen") if isinstance(saved.get("chosen"), dict) else {}
        context_tokens = int(chosen.get("context_tokens", saved.get("context_tokens")) or 0)
        word_tokenizer = saved.get("word_tokenizer") or DEFAULT_TOKENIZER
        if word_tokenizer not in TOKENIZERS:  # a newer version's tokenizer: the default
            word_tokenizer = DEFAULT_TOKENIZER
        bf16 = False
        if self.backend == "torch":
            torch_device = resolve_device(device)
            choice = choose_precision(
                torch_device.type, detect_capabilities(torch_device), _inference(precision)
            )
            self.attention = set_attention(model, choice.attention)
            model.to(torch_device).eval()  # a loaded model only ever predicts
            bf16 = choice.precision == "bf16"
        else:
            self.attention = "onnxruntime"
        self._init(
            model,
            tokenizer,
            batch_size,
            max_length,
            overlap,
            source=str(model_dir),
            bf16=bf16,
            context_tokens=context_tokens,
        )
        if self.backend == "onnx":
            self.precision = onnx_precision(path)
            self.device_name = f"CPU ({model.threads} threads, ONNX Runtime)"
        #: How :meth:`predict` splits raw text into words: as the project the model was
        #: trained in split its text.
        self.word_tokenizer = word_tokenizer

    @classmethod
    def from_model(
        cls,
        model: Any,
        tokenizer: Any,
        batch_size: int = 32,
        max_length: int = 256,
        overlap: int = 64,
        precision: str = "no",
        context_tokens: int = 0,
    ) -> Predictor:
        """Wrap a model already in memory (and on its device), e.g. during training;
        ``precision`` is the one chosen for it (``no`` | ``bf16`` | ``fp16``)."""
        self = cls.__new__(cls)
        self.backend = "torch"
        self.attention = str(getattr(model.config, "_attn_implementation", None) or "default")
        self._init(
            model,
            tokenizer,
            batch_size,
            max_length,
            overlap,
            source="the model",
            bf16=precision == "bf16",
            context_tokens=context_tokens,
        )
        return self

    def _init(
        self,
        model: Any,
        tokenizer: Any,
        batch_size: int,
        max_length: int,
        overlap: int,
        source: str,
        bf16: bool,
        context_tokens: int = 0,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.overlap = overlap
        self.context_tokens = context_tokens
        self.word_tokenizer = DEFAULT_TOKENIZER
        self.tags = iob2_tags(dict(model.config.id2label), source)
        self.labels = sorted({t[2:] for t in self.tags if t != "O"})
        self.device = (
            model.device
            if isinstance(model, OnnxTokenClassifier)
            else (next(model.parameters()).device)
        )
        self.device_name = device_name(self.device)
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        # bf16 where the device has it: 2-3x faster inference, the same argmax in practice
        # (fp16 is not used for inference: its range can change the argmax).
        self._autocast = bf16 and self.device.type in ("cuda", "cpu")
        self.precision = "bf16" if self._autocast else "no"

    # -- public API -------------------------------------------------------------------------

    def predict(self, texts: Sequence[str], tokenizer: str | None = None) -> list[list[dict]]:
        """Entities of each raw text, split into words by ``tokenizer``; by default by
        the tokenizer of the project the model was trained in (saved beside it as
        ``word_tokenizer``; the way NER corpora are split for older models)."""
        tokens = [tokenize(text, tokenizer or self.word_tokenizer) for text in texts]
        return self.predict_tokens(texts, tokens)

    def predict_tokens(
        self,
        texts: Sequence[str],
        tokens: Sequence[Tokens],
        groups: Groups = None,
        context: Sequence[Neighbours] | None = None,
    ) -> list[list[dict]]:
        """Entities of texts whose word tokens (character offsets) are already known.

        ``groups`` as for :meth:`predict_tags`. ``context`` instead gives, per text, the
        documents (``{text, tokens}``) just before and just after it, which a model
        trained with context reads around it: pre-annotation of documents whose
        neighbours are not being predicted themselves.
        """
        if context is None:
            tagged = self.predict_tags(texts, tokens, groups)
        else:
            tagged = self._tags_with_neighbours(texts, tokens, context)
        return [
            self._entities(text, toks, tags, probs)
            for text, toks, (tags, probs) in zip(texts, tokens, tagged, strict=True)
        ]

    def predict_tags(
        self, texts: Sequence[str], tokens: Sequence[Tokens], groups: Groups = None
    ) -> list[tuple[list[str], list[float]]]:
        """IOB2 tag and its probability for every word token of every text.

        ``groups`` gives each text's group (None: a text of its own). A model trained
        with context reads each text of a group with its neighbours in this list (in list
        order) as context, as it was trained; without ``groups`` every text stands alone.
        """
        word_lists = [
            [text[s:e] for s, e in toks] for text, toks in zip(texts, tokens, strict=True)
        ]
        windows = self.encode(word_lists, groups)
        return self.tags_of_windows(windows, [len(words) for words in word_lists])

    def encode(
        self,
        word_lists: Sequence[Sequence[str]],
        groups: Groups = None,
        read: Sequence[bool] | None = None,
    ) -> list[Window]:
        """The windows this predictor reads ``word_lists`` in (encode once, tag often);
        documents not ``read`` only lend their words as context."""
        return encode_in_context(
            self.tokenizer,
            word_lists,
            groups,
            self.max_length,
            self.overlap,
            self.context_tokens,
            read=read,
        )

    def _tags_with_neighbours(
        self, texts: Sequence[str], tokens: Sequence[Tokens], context: Sequence[Neighbours]
    ) -> list[tuple[list[str], list[float]]]:
        """:meth:`predict_tags` of each text read between its own neighbours."""
        word_lists: list[list[str]] = []
        groups: list[int] = []
        read: list[bool] = []
        mine: list[int] = []

        def add(text: str, toks: Tokens, group: int, target: bool) -> None:
            word_lists.append([text[s:e] for s, e in toks])
            groups.append(group)
            read.append(target)

        for k, (text, toks, (before, after)) in enumerate(zip(texts, tokens, context, strict=True)):
            for doc in before if self.context_tokens else ():
                add(doc["text"], doc["tokens"], k, False)
            mine.append(len(word_lists))
            add(text, toks, k, True)
            for doc in after if self.context_tokens else ():
                add(doc["text"], doc["tokens"], k, False)
        windows = self.encode(word_lists, groups, read)
        tagged = self.tags_of_windows(windows, [len(words) for words in word_lists])
        return [tagged[i] for i in mine]

    def tags_of_windows(
        self, windows: list[Window], n_words: Sequence[int]
    ) -> list[tuple[list[str], list[float]]]:
        """Word tags and probabilities of documents already encoded by :meth:`encode`;
        ``n_words`` is the number of words of each document."""
        tag_ids, probs = self._run(windows)
        by_doc: list[list[int]] = [[] for _ in n_words]
        for k, w in enumerate(windows):
            by_doc[w.doc].append(k)
        return [
            self._stitch(windows, by_doc[doc], n, tag_ids, probs) for doc, n in enumerate(n_words)
        ]

    # -- internals ----------------------------------------------------------------------------

    @torch.inference_mode()
    def _run(self, windows: list[Window]) -> tuple[list[list[int]], list[list[float]]]:
        """Per window and word: predicted tag index and its probability."""
        tag_ids: list[list[int]] = [[] for _ in windows]
        probs: list[list[float]] = [[] for _ in windows]
        was_training = self.model.training
        if was_training:  # during training: dropout off now, back on afterwards
            self.model.eval()
        try:
            for batch_idx in sorted_batches([len(w) for w in windows], self.batch_size):
                batch_windows = [windows[i] for i in batch_idx]
                batch = collate(batch_windows, self._pad_id, self._length_bucket(batch_windows))
                rows, cols = [], []
                for r, w in enumerate(batch_windows):
                    for pos in w.word_starts:
                        if pos >= 0:
                            rows.append(r)
                            cols.append(pos)
                batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
                with torch.autocast(
                    self.device.type if self._autocast else "cpu",
                    dtype=torch.bfloat16,
                    enabled=self._autocast,
                ):
                    logits = self.model(**batch).logits
                # Only the first sub-token of each word is read: softmax on those alone.
                if logits.device.type == "cpu":  # numpy: no wake-up of torch's threads
                    best_p, best_i = _best_tags(logits.float().numpy()[rows, cols])
                else:
                    picked = logits[
                        torch.tensor(rows, device=self.device),
                        torch.tensor(cols, device=self.device),
                    ]
                    best_p, best_i = picked.float().softmax(-1).max(-1)
                    best_p, best_i = best_p.tolist(), best_i.tolist()
                n = 0
                for i, w in zip(batch_idx, batch_windows, strict=True):
                    k = sum(1 for pos in w.word_starts if pos >= 0)
                    tag_ids[i] = _spread(w.word_starts, best_i[n : n + k], 0)
                    probs[i] = _spread(w.word_starts, best_p[n : n + k], 0.0)
                    n += k
        finally:
            if was_training:
                self.model.train()
        return tag_ids, probs

    def _length_bucket(self, windows: list[Window]) -> int:
        """The multiple a batch is padded to: :data:`LENGTH_BUCKET` on torch, unless
        rounding up would pass the model's longest input. Not on ONNX: its memory stays
        flat as shapes vary, so padding would only cost time."""
        if self.backend == "onnx":
            return 1
        longest = max(len(w) for w in windows)
        rounded = -(-longest // LENGTH_BUCKET) * LENGTH_BUCKET
        return LENGTH_BUCKET if rounded <= self.max_length else 1

    def _stitch(
        self,
        windows: list[Window],
        mine: list[int],
        n_words: int,
        tag_ids: list[list[int]],
        probs: list[list[float]],
    ) -> tuple[list[str], list[float]]:
        tags, scores = ["O"] * n_words, [0.0] * n_words
        if len(mine) == 1:
            w = windows[mine[0]]
            for j, pos in enumerate(w.word_starts):
                if pos >= 0:
                    tags[j] = self.tags[tag_ids[mine[0]][j]]
                    scores[j] = probs[mine[0]][j]
        elif mine:
            local = [windows[k] for k in mine]
            for word, (k, _) in enumerate(best_window_per_word(local, n_words)):
                if k >= 0:
                    j = word - local[k].first_word
                    tags[word] = self.tags[tag_ids[mine[k]][j]]
                    scores[word] = probs[mine[k]][j]
        _fill_gaps(windows, mine, tags, scores)
        return tags, scores

    def _entities(
        self, text: str, tokens: Tokens, tags: list[str], probs: list[float]
    ) -> list[dict]:
        index = {int(t[0]): i for i, t in enumerate(tokens)}
        entities = []
        for start, end, label in tags_to_spans(tokens, tags):
            first = index[start]
            last = first
            while last + 1 < len(tokens) and tokens[last + 1][1] <= end:
                last += 1
            span_probs = probs[first : last + 1]
            entities.append(
                {
                    "start": start,
                    "end": end,
                    "label": label,
                    "score": round(sum(span_probs) / len(span_probs), 4),
                    "text": text[start:end],
                }
            )
        return entities


def _best_tags(scores: np.ndarray) -> tuple[list[float], list[int]]:
    """Per row of ``scores`` (words x tags): the softmax probability of the best tag and
    its index. On the CPU in numpy: for a few words, waking torch's thread pool costs
    more than the arithmetic (8 ms per call measured on a loaded 2-core machine)."""
    exp = np.exp(scores - scores.max(-1, keepdims=True))
    probs = exp / exp.sum(-1, keepdims=True)
    return probs.max(-1).tolist(), probs.argmax(-1).tolist()


def _spread(word_starts: list[int], values: list, fill: Any) -> list:
    """Values for the words that have a sub-token, placed back among those that have none."""
    out = [fill] * len(word_starts)
    it = iter(values)
    for j, pos in enumerate(word_starts):
        if pos >= 0:
            out[j] = next(it)
    return out


def _fill_gaps(
    windows: list[Window], mine: list[int], tags: list[str], scores: list[float]
) -> None:
    """A word the tokenizer dropped (e.g. a lone zero-width character) continues the
    entity around it instead of splitting it in two; elsewhere it stays ``O``."""
    seen = set()
    for k in mine:
        w = windows[k]
        seen.update(w.first_word + j for j, pos in enumerate(w.word_starts) if pos >= 0)
    for i in range(1, len(tags) - 1):
        if i not in seen and tags[i - 1] != "O" and tags[i + 1] == f"I-{tags[i - 1][2:]}":
            tags[i], scores[i] = tags[i + 1], scores[i - 1]


def _onnx_device(device: str) -> str:
    """ONNX Runtime's device for a Predictor device setting: the CPU unless CUDA is named."""
    return "cuda" if device == "cuda" else "cpu"


def _inference(precision: str) -> str:
    """The precision setting for inference: fp16 (GPU training) becomes auto (bf16 or fp32)."""
    return "auto" if precision == "fp16" else precision


def _saved_config(path: str) -> dict:
    """The train_config.json a Spanlab run leaves beside its model, if any."""
    file = Path(path) / "train_config.json"
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
