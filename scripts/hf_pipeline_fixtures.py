"""Builds small HF `tokenizers` pipelines of every component kind, trains some of them on the
repo's fixture corpora, and records tokenizer.json + encodings/decodings/pre-tokens for the
Swift parity tests (Tests/Fixtures/hf_pipelines.json). Reference only; not part of the product.

    python3 scripts/hf_pipeline_fixtures.py   # tokenizers 0.23.3
"""
import json, os
from tokenizers import AddedToken, Tokenizer, models, normalizers as N, pre_tokenizers as P, decoders as D, processors as PP, trainers as T, Regex

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
fx = os.path.join(root, "Tests", "Fixtures")
ko = open(os.path.join(fx, "ko_constitution.txt"), encoding="utf-8").read().splitlines()
en = open(os.path.join(fx, "en_austen_40k.txt"), encoding="utf-8").read().splitlines()
corpus = ko + en

texts = [
    "", " ", "Hello, world!", "  leading and trailing  ", "I don't know... it's 12345 dollars?!",
    "대한민국은 민주공화국이다.", "제1조 ① 대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다.",
    "Mr. Darcy's 2 sisters—Elizabeth & Jane.", "ＡＢＣ ｶﾀｶﾅ ﬁ Ⅻ ①② Straße ΣΑΣ İ café café",
    "tab\there\nnew line\r\n  spaces", "emoji 😀👍🏽 and 漢字 中文", "<|endoftext|> inside <|endoftext|>text",
    "[CLS] x [SEP] [MASK] y", "a" * 120, "123 4567 89 0.5 1,000", "don't won't isn't", "___--==++",
]
texts += corpus[3:40:4]
out = []

def record(name, tok, pair=None):
    rows = []
    for t in texts:
        e = tok.encode(t)
        ns = tok.encode(t, add_special_tokens=False)
        row = {"text": t, "ids": e.ids, "tokens": e.tokens, "offsets": e.offsets, "ids_no_special": ns.ids,
               "decoded": tok.decode(e.ids), "decoded_keep_special": tok.decode(e.ids, skip_special_tokens=False),
               "pre_tokens": [p for p, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(t) if tok.normalizer else t)] if tok.pre_tokenizer else None}
        rows.append(row)
    entry = {"name": name, "tokenizer": json.loads(tok.to_str()), "rows": rows}
    if pair:
        entry["pair"] = pair_record(tok, pair)
    out.append(entry)

def pair_record(tok, pair):
    e = tok.encode(pair[0], pair[1])
    return {"a": pair[0], "b": pair[1], "ids": e.ids, "type_ids": e.type_ids, "offsets": e.offsets,
            "special_tokens_mask": e.special_tokens_mask}

# 1. byte-level BPE (GPT-2 style)
t = Tokenizer(models.BPE())
t.pre_tokenizer = P.ByteLevel(add_prefix_space=False)
t.decoder = D.ByteLevel()
t.post_processor = PP.ByteLevel(trim_offsets=True)
t.train_from_iterator(corpus, T.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"], initial_alphabet=P.ByteLevel.alphabet(), show_progress=False))
record("bytelevel_bpe", t)

# 2. BERT-style WordPiece
t = Tokenizer(models.WordPiece(unk_token="[UNK]"))
t.normalizer = N.BertNormalizer(lowercase=True)
t.pre_tokenizer = P.BertPreTokenizer()
t.decoder = D.WordPiece()
t.train_from_iterator(corpus, T.WordPieceTrainer(vocab_size=700, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False))
t.post_processor = PP.BertProcessing(("[SEP]", t.token_to_id("[SEP]")), ("[CLS]", t.token_to_id("[CLS]")))
record("bert_wordpiece", t, pair=("대한민국은", "Hello there"))

# 3. SentencePiece-style Unigram with Metaspace
t = Tokenizer(models.Unigram())
t.normalizer = N.Sequence([N.NFKC(), N.Replace(Regex(" {2,}"), " ")])
t.pre_tokenizer = P.Metaspace()
t.decoder = D.Metaspace()
t.train_from_iterator(corpus, T.UnigramTrainer(vocab_size=500, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>", show_progress=False))
t.post_processor = PP.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1", special_tokens=[("<s>", 1), ("</s>", 2)])
record("unigram_metaspace", t, pair=("a b", "c"))

# 4. Llama-style BPE with byte fallback
t = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
t.normalizer = N.Sequence([N.Prepend("▁"), N.Replace(" ", "▁")])
t.decoder = D.Sequence([D.Replace("▁", " "), D.ByteFallback(), D.Fuse(), D.Strip(" ", 1, 0)])
bytes_ = ["<0x%02X>" % b for b in range(256)]
t.train_from_iterator(corpus, T.BpeTrainer(vocab_size=900, special_tokens=["<unk>", "<s>", "</s>"] + bytes_, show_progress=False))
record("llama_bytefallback", t)

# 5. BPE with an end-of-word suffix, unk token and a mixed pre-tokenizer sequence
t = Tokenizer(models.BPE(unk_token="[UNK]", end_of_word_suffix="</w>", fuse_unk=True))
t.normalizer = N.Sequence([N.NFD(), N.StripAccents(), N.Lowercase(), N.Strip()])
t.pre_tokenizer = P.Sequence([P.Whitespace(), P.Digits(individual_digits=True)])
t.decoder = D.BPEDecoder(suffix="</w>")
t.train_from_iterator(en, T.BpeTrainer(vocab_size=400, special_tokens=["[UNK]"], end_of_word_suffix="</w>", limit_alphabet=60, show_progress=False))
record("suffix_bpe", t)

# 6. Pre-tokenizers on their own: one per Split behaviour and more
for i, pre in enumerate([
    P.Split(" ", "removed"), P.Split(Regex(r"\s+"), "isolated"), P.Split(Regex(r"[,.!?]"), "merged_with_previous"),
    P.Split(Regex(r"[,.!?]"), "merged_with_next"), P.Split(Regex(r"\d"), "contiguous"), P.Split(Regex(r"\w+"), "removed", invert=True),
    P.Punctuation("contiguous"), P.Digits(), P.CharDelimiterSplit("a"), P.Metaspace(prepend_scheme="first", split=True),
    P.Sequence([P.WhitespaceSplit(), P.Metaspace(prepend_scheme="never", split=False)]), P.ByteLevel(add_prefix_space=True, use_regex=False),
]):
    out.append({"name": "pre_%d" % i, "pre_tokenizer": json.loads(pre.__getstate__()),
                "rows": [{"text": t, "pre_tokens": [p for p, _ in pre.pre_tokenize_str(t)]} for t in texts]})

# 7. Offsets through normalizers that change lengths, and normalized added tokens (offsets only).
offset_texts = texts + ["ㄱㅏ ㄴㅣ ᄒᆞᆫ 한국 ﬃ ㎏ ㈜ ①", "e\u0301 a\u0308\u0323 \u1e0b\u0323 Å Ω", "  ABC  DEF  ", "漢字abc中文 x", "Hello\u00a0World\u200b!"]
bpe_vocab = {c: i for i, c in enumerate(sorted(set("".join(offset_texts).lower())))}
def offsets_only(name, tok, added=None, pair=None):
    if added: tok.add_tokens(added)
    rows = []
    for t in offset_texts:
        e = tok.encode(t)
        rows.append({"text": t, "ids": e.ids, "tokens": e.tokens, "offsets": e.offsets})
    entry = {"name": name, "tokenizer": json.loads(tok.to_str()), "rows": rows}
    if pair:
        entry["pair"] = pair_record(tok, pair)
    out.append(entry)
for name, norm, pre in [
    ("off_nfkc_lower", N.Sequence([N.NFKC(), N.Lowercase()]), P.Whitespace()),
    ("off_nfd_strip", N.Sequence([N.NFD(), N.StripAccents(), N.Strip()]), P.WhitespaceSplit()),
    ("off_nfkd", N.NFKD(), P.Whitespace()),
    ("off_nfc_replace", N.Sequence([N.NFC(), N.Replace(Regex("[ㄱ-ㅎ]+"), "<J>"), N.Replace("  ", "")]), P.Whitespace()),
    ("off_bert", N.BertNormalizer(lowercase=True), P.BertPreTokenizer()),
    ("off_prepend_metaspace", N.Sequence([N.NFKC(), N.Prepend("▁")]), P.Metaspace(prepend_scheme="first")),
    ("off_bytelevel_prefix", N.NFKC(), P.ByteLevel(add_prefix_space=True)),
]:
    vocab = dict(bpe_vocab)
    for extra in ["▁", "<J>", "[UNK]"]:
        vocab.setdefault(extra, len(vocab))
    if "bytelevel" in name:
        vocab = {c: i for i, c in enumerate(["<s>", "</s>"] + P.ByteLevel.alphabet())}
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
        # A sequence: offsets trimmed, then the pair template (not the single one) applies.
        tok.post_processor = PP.Sequence([PP.ByteLevel(trim_offsets=True),
                                          PP.TemplateProcessing(single="<s> $A", pair="<s> $A </s> $B:1", special_tokens=[("<s>", 0), ("</s>", 1)])])
    else:
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]", fuse_unk=True))
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    offsets_only(name, tok, pair=("Hi there", " 한 국") if "bytelevel" in name else None)
tok = Tokenizer(models.WordPiece(vocab={"[UNK]": 0, "a": 1, "##b": 2, "b": 3}, unk_token="[UNK]"))
tok.normalizer = N.Sequence([N.NFKC(), N.Lowercase()])
tok.pre_tokenizer = P.Whitespace()
offsets_only("off_wordpiece_added", tok, added=[AddedToken("ＡＢ", normalized=True), AddedToken("ΣΑΣ", normalized=False, lstrip=True, rstrip=True)])

with open(os.path.join(fx, "hf_pipelines.json"), "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False)
print("wrote", len(out), "pipelines")

# Training parity (no continuing-subword prefix: HF is deterministic then).
train = []
for name, tok, trainer in [
    ("seed_noprefix", Tokenizer(models.BPE()), T.BpeTrainer(vocab_size=1200, special_tokens=["<|endoftext|>"], show_progress=False)),
    ("bytelevel", Tokenizer(models.BPE()), T.BpeTrainer(vocab_size=800, initial_alphabet=P.ByteLevel.alphabet(), min_frequency=2, show_progress=False)),
    ("limit_minfreq", Tokenizer(models.BPE()), T.BpeTrainer(vocab_size=1000, limit_alphabet=231, min_frequency=3, special_tokens=["[UNK]", "[PAD]"], show_progress=False)),
]:
    if name == "bytelevel":
        tok.pre_tokenizer = P.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = P.Sequence([P.WhitespaceSplit(), P.Punctuation()])
    tok.train_from_iterator(corpus, trainer)
    m = json.loads(tok.to_str())["model"]
    train.append({"name": name, "vocab": m["vocab"], "merges": m["merges"]})
with open(os.path.join(fx, "hf_training.json"), "w", encoding="utf-8") as f:
    json.dump(train, f, ensure_ascii=False)
print("wrote training fixtures")

# Truncation and padding (Tests/Fixtures/hf_truncation.json): pipelines 0-2 above with HF's
# enable_truncation / enable_padding, singles, pairs and batches, overflowing parts included.
def encoding_dict(e):
    return {"ids": e.ids, "type_ids": e.type_ids, "offsets": e.offsets,
            "special_tokens_mask": e.special_tokens_mask, "attention_mask": e.attention_mask,
            "overflowing": [encoding_dict(o) for o in e.overflowing]}
inputs = [("Hello there my friend", "대한민국은 민주공화국이다 모든 권력"), ("a", "제1조 ① 대한민국의 주권은 국민에게 있고"),
          ("I don't know... it's 12345 dollars?!", None), ("대한민국은 민주공화국이다.", "x y"), ("", "Hello"), ("짧다", None)]
cases = []
for k in range(3):
    base = out[k]["tokenizer"]
    for trunc in [None, (8, 0, "longest_first", "right"), (8, 2, "longest_first", "right"), (10, 3, "longest_first", "left"),
                  (7, 1, "only_first", "right"), (9, 2, "only_second", "left"), (5, 0, "longest_first", "right"), (12, 4, "only_second", "right")]:
        for pad in [None, dict(direction="right", pad_id=0, pad_token="[PAD]"), dict(direction="left", pad_id=3, pad_type_id=1, pad_token="<pad>", pad_to_multiple_of=4),
                    dict(direction="right", length=16, pad_id=0, pad_token="[PAD]")]:
            if trunc is None and pad is None: continue
            tok = Tokenizer.from_str(json.dumps(base))
            try:
                if trunc: tok.enable_truncation(trunc[0], stride=trunc[1], strategy=trunc[2], direction=trunc[3])
            except Exception as err:
                cases.append({"pipeline": k, "enable_error": str(err)}); continue
            if pad: tok.enable_padding(**pad)
            results = []
            for a, b in inputs:
                for special in [True, False]:
                    try:
                        e = tok.encode(a, b, add_special_tokens=special) if b is not None else tok.encode(a, add_special_tokens=special)
                        results.append({"a": a, "b": b, "add_special_tokens": special, "encoding": encoding_dict(e)})
                    except BaseException as err:  # HF panics on some (stride ≥ the length left)
                        results.append({"a": a, "b": b, "add_special_tokens": special, "error": str(err)})
            try:
                batch = [encoding_dict(e) for e in tok.encode_batch([a for a, _ in inputs])]
            except BaseException as err:
                batch = str(err)
            written = json.loads(tok.to_str())
            cases.append({"pipeline": k, "truncation": written["truncation"], "padding": written["padding"], "results": results, "batch": batch})
with open(os.path.join(fx, "hf_truncation.json"), "w", encoding="utf-8") as f:
    json.dump(cases, f, ensure_ascii=False, separators=(",", ":"))
print("wrote", len(cases), "truncation and padding cases")

# Unigram training (Tests/Fixtures/hf_unigram.json): HF's UnigramTrainer with NFKC + Metaspace on
# nine lines in ten of the corpus; the tenth lines are held out for the likelihood check.
train_lines = [l + "\n" for i, l in enumerate(corpus) if i % 10 != 9]
held_out = [l for i, l in enumerate(corpus) if i % 10 == 9 and l.strip()]
t = Tokenizer(models.Unigram())
t.normalizer = N.NFKC()
t.pre_tokenizer = P.Metaspace()
t.decoder = D.Metaspace()
t.train_from_iterator(train_lines, T.UnigramTrainer(vocab_size=1500, special_tokens=["<unk>"], unk_token="<unk>", show_progress=False))
with open(os.path.join(fx, "hf_unigram.json"), "w", encoding="utf-8") as f:
    json.dump({"vocab_size": 1500, "tokenizer": json.loads(t.to_str()), "held_out": held_out}, f, ensure_ascii=False)
print("wrote unigram training fixture")
