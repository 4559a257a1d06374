"""Text corpora: PTB / WikiText-2 files, the embedded corpus, vocabulary, OOV, BPTT batching, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nao_tf.data import text_batches
from nao_tf.data.text import (
    EOS,
    UNK,
    Vocabulary,
    embedded_tokens,
    load_corpus,
    unigram_perplexity,
)
from nao_tf.errors import DataError

TRAIN = "the cat sat on the mat\n a dog sat on the <unk>\n\n the cat ran\n"
VALID = "the dog ran on the mat\n"
TEST = "a zebra sat on the moon\n"


def write_ptb(folder, train=TRAIN, valid=VALID, test=TEST):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ptb.train.txt").write_text(train)
    (folder / "ptb.valid.txt").write_text(valid)
    (folder / "ptb.test.txt").write_text(test)
    return folder


def test_ptb_files_vocab_and_oov(tmp_path):
    corpus = load_corpus("ptb", write_ptb(tmp_path / "ptb"))
    vocab = corpus.vocab
    assert vocab.words[:2] == [EOS, UNK]
    assert vocab.words[2] == "the"  # most frequent word first
    assert set(vocab.words) == {EOS, UNK, "the", "cat", "sat", "on", "mat", "a", "dog", "ran"}
    # 4 lines (one empty) -> 4 <eos>; 15 words
    assert corpus.train.size == 15 + 4
    assert int((corpus.train == vocab.eos_id).sum()) == 4
    assert vocab.decode(corpus.train[:7]) == ["the", "cat", "sat", "on", "the", "mat", EOS]
    # test split: 'zebra' and 'moon' are unseen -> <unk>, counted
    assert corpus.oov == {"train": 0, "valid": 0, "test": 2}
    test_words = vocab.decode(corpus.test)
    assert test_words == ["a", UNK, "sat", "on", "the", UNK, EOS]


def test_wikitext_file_names(tmp_path):
    folder = tmp_path / "wt2"
    folder.mkdir()
    (folder / "wiki.train.tokens").write_text(" = Title = \n\n a b c , d . \n")
    (folder / "wiki.valid.tokens").write_text(" a b \n")
    (folder / "wiki.test.tokens").write_text(" c d e \n")
    corpus = load_corpus("wikitext-2", folder)
    assert corpus.name == "wikitext2"
    assert "=" in corpus.vocab.index and "," in corpus.vocab.index
    assert corpus.oov["test"] == 1


def test_missing_split_empty_corpus_and_unknown_dataset(tmp_path):
    folder = write_ptb(tmp_path / "p")
    (folder / "ptb.valid.txt").unlink()
    with pytest.raises(DataError, match="missing split file .*ptb.valid.txt"):
        load_corpus("ptb", folder)
    write_ptb(tmp_path / "e", train="\n\n")
    with pytest.raises(DataError, match="train split is empty"):
        load_corpus("ptb", tmp_path / "e")
    with pytest.raises(DataError, match="needs --data-dir"):
        load_corpus("ptb")
    with pytest.raises(DataError, match="does not exist"):
        load_corpus("ptb", tmp_path / "nope")
    with pytest.raises(DataError, match="unknown language-model dataset"):
        load_corpus("imagenet")


def test_embedded_corpus_deterministic_ptb_style():
    a, b = load_corpus("embedded"), load_corpus("embedded")
    assert a.vocab.words == b.vocab.words
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(a.splits[split], b.splits[split])
    vocab = a.vocab
    assert 1000 < len(vocab) <= 10_000
    assert UNK in vocab.index and EOS in vocab.index
    assert int((a.train == vocab.unk_id).sum()) > 0  # rare training words are <unk>, as in PTB
    assert a.train.size > 40_000 and a.valid.size > 3000 and a.test.size > 3000
    assert a.oov["valid"] > 0 and a.oov["test"] > 0  # unseen words at evaluation are counted
    words = set(vocab.words) - {UNK, EOS}
    assert all(w == w.lower() for w in words - {"N"})
    assert not any(w.isdigit() for w in words)  # numbers are N, as in PTB
    assert embedded_tokens()["train"][-1] == EOS
    ppl = unigram_perplexity(a)
    assert 100 < ppl < len(vocab)


def test_vocabulary_cap_and_roundtrip():
    vocab = Vocabulary.build("a a a b b c d".split(), max_size=4)
    assert vocab.words == [EOS, UNK, "a", "b"]
    ids, oov = vocab.encode(["a", "c", "zz", "b"])
    assert ids.tolist() == [2, 1, 1, 3] and oov == 2
    assert Vocabulary.from_text(vocab.to_text()).words == vocab.words


def test_batchify_and_windows():
    ids = np.arange(103, dtype=np.int32)
    streams = text_batches.batchify(ids, 4)
    assert streams.shape == (4, 25)
    np.testing.assert_array_equal(streams[1], np.arange(25, 50))  # batch-major contiguous streams
    wins = list(text_batches.windows_array(streams, 10))
    assert [w[0].shape[1] for w in wins] == [10, 10, 4]
    x, y = wins[0]
    np.testing.assert_array_equal(y, x + 1)
    rng = np.random.default_rng(0)
    lengths = [n for _, n in text_batches.bptt_windows(np.zeros((2, 5000)), 35, rng, variable=True)]
    assert sum(lengths) == 4999
    assert min(lengths[:-1]) >= 5 and max(lengths) <= 55 and len(set(lengths)) > 5


def test_bptt_longer_than_data_and_tiny_split():
    streams = text_batches.batchify(np.arange(40), 4)
    with pytest.raises(DataError, match="BPTT length 35 is larger than"):
        text_batches.check_bptt(streams, 35, "valid")
    with pytest.raises(DataError, match="too few"):
        text_batches.batchify(np.arange(5), 4, "test")


def test_lm_dataset_dynamic_time():
    pytest.importorskip("tensorflow")
    streams = text_batches.batchify(np.arange(400), 4)
    ds = text_batches.lm_dataset(streams, 20, seed=1, variable=True)
    total = 0
    for x, y in ds:
        assert x.shape[0] == 4 and x.shape == y.shape
        total += int(x.shape[1])
    assert total == 99


def test_bad_bptt_through_cli(cli, tmp_path):
    folder = write_ptb(tmp_path / "ptb")
    code, out, err = cli("train", "PTB-NAONet", "--dataset", "ptb", "--data-dir", folder,
                         "--out", tmp_path / "run", "--hidden", "8", "--batch-size", "2", "--bptt", "35",
                         "--eval-batch-size", "1")
    assert code == 2
    assert err.strip().count("\n") == 0 and "BPTT length 35" in err
    code, out, err = cli("train", "PTB-NAONet", "--dataset", "ptb", "--data-dir", tmp_path / "none",
                         "--out", tmp_path / "run2")
    assert code == 2 and "does not exist" in err and err.strip().count("\n") == 0
