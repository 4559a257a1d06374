"""Word-level language-modelling corpora: PTB, WikiText-2 and an embedded default corpus.

* ``load_corpus("ptb", data_dir)`` reads ``ptb.train.txt``, ``ptb.valid.txt``, ``ptb.test.txt``;
  ``load_corpus("wikitext2", data_dir)`` reads ``wiki.train.tokens``, ``wiki.valid.tokens``,
  ``wiki.test.tokens``. As in the AWD-LSTM / DARTS / NAO data loaders every line (empty ones included) is
  split on whitespace and ends with ``<eos>``; those corpora already use ``<unk>`` for rare words.
* The vocabulary is built from the training split only (``<eos>`` and ``<unk>`` always present; ordered by
  frequency, then alphabetically, so ids are deterministic). A token of the valid/test split (or of any text
  given later with ``Vocabulary.encode``) outside it maps to ``<unk>`` and is counted (``Corpus.oov``).
* ``load_corpus("embedded")`` needs no download: a PTB-style corpus (lower-cased, numbers as ``N``, one line
  per sentence-like text line, vocabulary capped at 10k with the rarest words as ``<unk>``) built
  deterministically from the pydoc topics that ship with every CPython (``pydoc_data.topics``). The text has
  only about 3.5k distinct words, so its vocabulary is well under the 10k cap; words seen once in training
  become ``<unk>`` so that ``<unk>`` occurs in training as it does in PTB.
* Batching for truncated BPTT is in ``nao_tf.data.text_batches``.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nao_tf.errors import DataError

EOS = "<eos>"
UNK = "<unk>"
SPLITS = ("train", "valid", "test")

# Dataset name -> file name of each split.
FILES: dict[str, dict[str, str]] = {
    "ptb": {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"},
    "wikitext2": {"train": "wiki.train.tokens", "valid": "wiki.valid.tokens", "test": "wiki.test.tokens"},
}
ALIASES = {"ptb": "ptb", "penn": "ptb", "wikitext2": "wikitext2", "wikitext-2": "wikitext2",
           "wt2": "wikitext2", "embedded": "embedded", "pydoc": "embedded"}
LM_DATASETS = ("ptb", "wikitext2", "embedded")

EMBEDDED_MAX_VOCAB = 10_000
EMBEDDED_MIN_COUNT = 2
_EMBEDDED_BLOCK = 50  # lines per block; block index % 10 == 8 -> valid, 9 -> test, else train


def canonical_dataset(name: str) -> str:
    """``ptb``, ``wikitext2`` or ``embedded`` for any accepted spelling; ``DataError`` otherwise."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in ALIASES:
        raise DataError(f"unknown language-model dataset {name!r}; expected one of {', '.join(LM_DATASETS)}")
    return ALIASES[key]


def is_lm_dataset(name: str | None) -> bool:
    return name is not None and str(name).strip().lower().replace("_", "-") in ALIASES


@dataclass
class Vocabulary:
    """Words <-> ids. ``<unk>`` and ``<eos>`` are always in it."""

    words: list[str]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise DataError("vocabulary has duplicate words; rebuild it from the training split")
        for special in (UNK, EOS):
            if special not in self.index:
                raise DataError(f"vocabulary lacks {special}; rebuild it from the training split")

    def __len__(self) -> int:
        return len(self.words)

    @property
    def unk_id(self) -> int:
        return self.index[UNK]

    @property
    def eos_id(self) -> int:
        return self.index[EOS]

    @classmethod
    def build(cls, tokens: Iterable[str], max_size: int | None = None, min_count: int = 1) -> Vocabulary:
        """Most frequent first (ties alphabetical); at most ``max_size`` words including the two specials."""
        counts = Counter(tokens)
        counts.pop(UNK, None)
        counts.pop(EOS, None)
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]
        return cls([EOS, UNK, *ranked])

    def encode(self, tokens: Sequence[str]) -> tuple[np.ndarray, int]:
        """Ids of ``tokens`` (int32) and how many were out of vocabulary (mapped to ``<unk>``)."""
        unk = self.unk_id
        get = self.index.get
        ids = np.fromiter((get(t, unk) for t in tokens), dtype=np.int32, count=len(tokens))
        oov = sum(1 for t in tokens if t not in self.index)
        return ids, oov

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[int(i)] for i in ids]

    def to_text(self) -> str:
        return "\n".join(self.words) + "\n"

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls([w for w in text.split("\n") if w])


@dataclass
class Corpus:
    """A tokenized corpus: vocabulary, int32 id streams per split, and out-of-vocabulary counts per split."""

    name: str
    vocab: Vocabulary
    splits: dict[str, np.ndarray]
    oov: dict[str, int]

    @property
    def train(self) -> np.ndarray:
        return self.splits["train"]

    @property
    def valid(self) -> np.ndarray:
        return self.splits["valid"]

    @property
    def test(self) -> np.ndarray:
        return self.splits["test"]

    def summary(self) -> dict[str, object]:
        return {
            "dataset": self.name,
            "vocab_size": len(self.vocab),
            **{f"{s}_tokens": int(self.splits[s].size) for s in SPLITS},
            **{f"{s}_oov": int(self.oov[s]) for s in SPLITS},
        }


def tokenize_lines(lines: Iterable[str]) -> list[str]:
    """Whitespace tokens of every line, each line followed by ``<eos>`` (the AWD-LSTM convention)."""
    out: list[str] = []
    for line in lines:
        out.extend(line.split())
        out.append(EOS)
    return out


def _read_split(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason}); give the original corpus file") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    return tokenize_lines(text.splitlines())


def load_corpus(name: str = "embedded", data_dir: str | Path | None = None,
                vocab: Vocabulary | None = None) -> Corpus:
    """Load a corpus by name. ``vocab`` (e.g. the one a trained model was saved with) replaces the vocabulary
    built from the training split, so evaluation maps unseen words to that model's ``<unk>``."""
    dataset = canonical_dataset(name)
    if dataset == "embedded":
        tokens = embedded_tokens()
    else:
        if data_dir is None:
            raise DataError(f"dataset {dataset} needs --data-dir, the folder holding "
                            f"{', '.join(FILES[dataset].values())}")
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f"data folder {folder} does not exist; give the folder holding "
                            f"{', '.join(FILES[dataset].values())}")
        tokens = {}
        for split, fname in FILES[dataset].items():
            path = folder / fname
            if not path.is_file():
                raise DataError(f"{dataset}: missing split file {path}; the folder must hold "
                                f"{', '.join(FILES[dataset].values())}")
            tokens[split] = _read_split(path)
    return corpus_from_tokens(dataset, tokens, vocab)


def corpus_from_tokens(name: str, tokens: dict[str, list[str]], vocab: Vocabulary | None = None,
                       max_vocab: int | None = None, min_count: int = 1) -> Corpus:
    """Build the vocabulary from ``tokens['train']`` (unless given) and encode every split."""
    for split in SPLITS:
        words = [t for t in tokens.get(split, []) if t != EOS]
        if not words:
            raise DataError(f"{name}: the {split} split is empty (no words); check the corpus files")
    if vocab is None:
        vocab = Vocabulary.build(tokens["train"], max_size=max_vocab, min_count=min_count)
    splits, oov = {}, {}
    for split in SPLITS:
        splits[split], oov[split] = vocab.encode(tokens[split])
    return Corpus(name, vocab, splits, oov)


# ----- the embedded corpus ------------------------------------------------------------------------------
_WORD = re.compile(r"[a-z_][a-z0-9_]*|\d+(?:[.,]\d+)*")


def _embedded_lines() -> list[str]:
    from pydoc_data import topics

    lines: list[str] = []
    for key in sorted(topics.topics):
        for raw in topics.topics[key].lower().splitlines():
            words = ["N" if w[0].isdigit() else w for w in _WORD.findall(raw)]
            if words:
                lines.append(" ".join(words))
    return lines


@functools.lru_cache(maxsize=1)
def _embedded_tokens_cached() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    lines = _embedded_lines()
    parts: dict[str, list[str]] = {s: [] for s in SPLITS}
    for start in range(0, len(lines), _EMBEDDED_BLOCK):
        block = (start // _EMBEDDED_BLOCK) % 10
        split = "valid" if block == 8 else "test" if block == 9 else "train"
        parts[split].extend(lines[start:start + _EMBEDDED_BLOCK])
    # PTB style: the training split itself holds <unk> for rare words.
    counts = Counter(w for line in parts["train"] for w in line.split())
    vocab = Vocabulary.build(counts.elements(), max_size=EMBEDDED_MAX_VOCAB, min_count=EMBEDDED_MIN_COUNT)
    keep = vocab.index
    out = []
    for split in SPLITS:
        toks = tokenize_lines(parts[split])
        if split == "train":
            toks = [t if t in keep else UNK for t in toks]
        out.append(tuple(toks))
    return out[0], out[1], out[2]


def embedded_tokens() -> dict[str, list[str]]:
    """Tokens of the embedded corpus per split (train rare words already ``<unk>``, as in PTB's files)."""
    train, valid, test = _embedded_tokens_cached()
    return {"train": list(train), "valid": list(valid), "test": list(test)}


# ----- baselines ----------------------------------------------------------------------------------------
def unigram_perplexity(corpus: Corpus, split: str = "valid") -> float:
    """Perplexity of ``split`` under the add-one-smoothed unigram distribution of the training split: the
    number a language model has to beat."""
    counts = np.bincount(corpus.train, minlength=len(corpus.vocab)).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(math.exp(-logp[corpus.splits[split]].mean()))
