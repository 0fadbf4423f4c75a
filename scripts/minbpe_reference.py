#!/usr/bin/env python3
"""Reference BPE training with minbpe's exact algorithm (karpathy/minbpe @1acefe89,
base.py get_stats/merge + regex.py RegexTokenizer.train), used to make the test fixture
Tests/Fixtures/minbpe_merges.json. Needs the `regex` module. Reference only, not product code.

Usage: python3 scripts/minbpe_reference.py   (run from the repository root)
"""
import json, pathlib, regex as re

GPT2 = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
CL100K = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""

def get_stats(ids, counts):
    for pair in zip(ids, ids[1:]):  # overlapping pairs, insertion order = first occurrence
        counts[pair] = counts.get(pair, 0) + 1

def merge(ids, pair, idx):
    out, i = [], 0
    while i < len(ids):
        if ids[i] == pair[0] and i < len(ids) - 1 and ids[i + 1] == pair[1]:
            out.append(idx); i += 2
        else:
            out.append(ids[i]); i += 1
    return out

def encode(text, merges, pattern):
    """minbpe's encode_ordinary: per chunk, merge the lowest-index pair until none applies."""
    ranks = {tuple(m): 256 + i for i, m in enumerate(merges)}
    out = []
    for chunk in (re.findall(pattern, text) if pattern else [text]):
        ids = list(chunk.encode("utf-8"))
        while len(ids) >= 2:
            stats = {}
            get_stats(ids, stats)
            pair = min(stats, key=lambda p: ranks.get(p, float("inf")))
            if pair not in ranks:
                break
            ids = merge(ids, pair, ranks[pair])
        out.extend(ids)
    return out

SAMPLE = "대한민국 헌법은 1948년 7월 17일에 제정되었다. It's a truth universally acknowledged!  \n\n  end"

def train(text, vocab_size, pattern):
    chunks = re.findall(pattern, text) if pattern else [text]
    ids = [list(ch.encode("utf-8")) for ch in chunks]
    merges = []
    for i in range(vocab_size - 256):
        stats = {}
        for chunk_ids in ids:
            get_stats(chunk_ids, stats)
        if not stats:
            break
        pair = max(stats, key=stats.get)  # first maximum in insertion order
        ids = [merge(chunk_ids, pair, 256 + i) for chunk_ids in ids]
        merges.append(list(pair))
    return merges

root = pathlib.Path(__file__).resolve().parent.parent
fixtures = root / "Tests/Fixtures"
cases = []
for name, path, pattern, vocab in [
    ("ko-constitution-gpt4", "ko_constitution.txt", CL100K, 256 + 300),
    ("ko-constitution-gpt2", "ko_constitution.txt", GPT2, 256 + 300),
    ("en-austen-gpt4", "en_austen_40k.txt", CL100K, 256 + 300),
    ("en-austen-basic", "en_austen_40k.txt", None, 256 + 120),
    ("wikipedia", None, None, 256 + 3),
]:
    text = (fixtures / path).read_text(encoding="utf-8") if path else "aaabdaaabac"
    prefix = 8000 if pattern is None and path else None  # minbpe's Basic trainer is slow
    text = text[:prefix] if prefix else text
    merges = train(text, vocab, pattern)
    cases.append({"name": name, "text_file": path, "text": None if path else text, "prefix_scalars": prefix,
                  "pattern": {CL100K: "gpt4", GPT2: "gpt2", None: "none"}[pattern],
                  "vocab_size": vocab, "merges": merges,
                  "sample": SAMPLE, "sample_ids": encode(SAMPLE, merges, pattern)})
    print(name, len(merges), "merges")
(fixtures / "minbpe_merges.json").write_text(json.dumps(cases) + "\n")
