"""Trains small SentencePiece models with the `sentencepiece` package on the repo's fixture
corpora (Korean + English) and records how it encodes and decodes, for the Swift parity tests
(Tests/Fixtures/sentencepiece/). Reference only; not part of the product.

    pip install sentencepiece   # 0.2.x
    python3 scripts/sentencepiece_fixtures.py
"""
import io, json, os
import sentencepiece as spm

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
fx = os.path.join(root, "Tests", "Fixtures")
outdir = os.path.join(fx, "sentencepiece")
os.makedirs(outdir, exist_ok=True)
ko = open(os.path.join(fx, "ko_constitution.txt"), encoding="utf-8").read().splitlines()
en = open(os.path.join(fx, "en_austen_40k.txt"), encoding="utf-8").read().splitlines()
corpus = [l for l in ko + en if l.strip()]

texts = [
    "", " ", "Hello, world!", "  leading and   inner   trailing  ", "I don't know... it's 12345 dollars?!",
    "대한민국은 민주공화국이다.", "제1조 ① 대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다.",
    "ＡＢＣ ｶﾀｶﾅ ﬁ Ⅻ ①② Straße ΣΑΣ İ café café", "tab\there\nnew line\r\n  spaces\u3000wide",
    "emoji 😀👍🏽 and 漢字 中文 ㄱㅏ", "<sep> user <sep>defined<sep>", "<s> control </s>", "\u200b zero\u00a0width",
    "a" * 60, "xyzzy qwerty ꙮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\x00\x01 bytes \x7f",
] + corpus[3:60:3]

long_text = (" ".join(corpus) + " ") * 4


def ids_hash(ids):
    """h = h * 1000003 + id + 1 over the ids, modulo 2^64 (SentencePieceTests.idsHash)."""
    h = 0
    for i in ids:
        h = (h * 1000003 + i + 1) & (2**64 - 1)
    return h


configs = [
    ("unigram_bytefallback", dict(model_type="unigram", vocab_size=1500, byte_fallback=True, user_defined_symbols=["<sep>"])),
    ("bpe_bytefallback", dict(model_type="bpe", vocab_size=1200, byte_fallback=True, user_defined_symbols=["<sep>"])),
    ("unigram_identity", dict(model_type="unigram", vocab_size=800, normalization_rule_name="identity",
                              remove_extra_whitespaces=False, character_coverage=0.98)),
    ("bpe_nfkc_unk", dict(model_type="bpe", vocab_size=900, normalization_rule_name="nfkc", add_dummy_prefix=False,
                          character_coverage=0.98, control_symbols=["<ctl>"])),
]
records = []
for name, cfg in configs:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_writer=model, num_threads=1,
                                   minloglevel=2, **cfg)
    data = model.getvalue()
    open(os.path.join(outdir, name + ".model"), "wb").write(data)
    sp = spm.SentencePieceProcessor(model_proto=data)
    rows = []
    for t in texts:
        ids = sp.encode(t)
        rows.append({"text": t, "ids": ids, "pieces": sp.encode(t, out_type=str), "decoded": sp.decode(ids)})
    # Decoding id sequences that are no encoding: lone byte pieces, control and unknown ids.
    byte_ids = [sp.piece_to_id(p) for p in ["<0xEA>", "<0xB0>", "<0x80>", "<0x41>"]]
    odd = [[0, 1, 2] + list(range(3, 40)), [sp.piece_to_id("▁Hello")] + byte_ids, list(range(sp.get_piece_size() - 30, sp.get_piece_size()))]
    # The whole fixture corpus four times over as one text (236k characters), as a count and a
    # hash of its ids: long texts must encode in O(n log n) and still as the library does.
    long_ids = sp.encode(long_text)
    records.append({"name": name, "rows": rows, "decode": [{"ids": i, "decoded": sp.decode(i)} for i in odd],
                    "vocab_size": sp.get_piece_size(), "long_count": len(long_ids), "long_hash": str(ids_hash(long_ids))})
with open(os.path.join(outdir, "sentencepiece.json"), "w", encoding="utf-8") as f:
    json.dump(records, f, ensure_ascii=False)

# The library's Unigram arithmetic, pinned on a model made by hand: "a" + "b" (-2.0038) and
# "ab" (-2.003) are a near tie that float sums at a path score of about -5e4 break towards
# "a" "b" and exact sums towards "ab"; past -1e5 the library rebases its scores, so 100,001 x's
# reach "ab" at 0 and 150,001 at -5e4 again. The user-defined "cd" scores (2 - 1) * 0.1 and
# beats "c" + "d" (-0.02); the older library's `length * max_score - 0.1` (-0.12) would not.
from sentencepiece import sentencepiece_model_pb2 as pb
m = pb.ModelProto()
m.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
m.normalizer_spec.name = "identity"
m.normalizer_spec.add_dummy_prefix = False
m.normalizer_spec.remove_extra_whitespaces = False
kind = pb.ModelProto.SentencePiece
for piece, score, type_ in [("<unk>", 0, kind.UNKNOWN), ("x", -1.0, kind.NORMAL), ("a", -1.0019, kind.NORMAL),
                            ("b", -1.0019, kind.NORMAL), ("ab", -2.003, kind.NORMAL), ("c", -0.01, kind.NORMAL),
                            ("d", -0.01, kind.NORMAL), ("cd", 0, kind.USER_DEFINED)]:
    p = m.pieces.add(); p.piece = piece; p.score = score; p.type = type_
data = m.SerializeToString()
open(os.path.join(outdir, "float_ties.model"), "wb").write(data)
sp = spm.SentencePieceProcessor(model_proto=data)
cases = []
for xs, tail in [(0, "ab"), (50000, "ab"), (100001, "ab"), (150001, "ab"), (1, "cdx"), (0, "abcd")]:
    pieces = sp.encode("x" * xs + tail, out_type=str)
    cases.append({"xs": xs, "tail": tail, "count": len(pieces), "last": pieces[-4:]})
with open(os.path.join(outdir, "float_ties.json"), "w", encoding="utf-8") as f:
    json.dump(cases, f)

# A text that is both a control piece and a normal piece: the library refuses the model.
m = pb.ModelProto()
m.trainer_spec.model_type = pb.TrainerSpec.BPE
m.normalizer_spec.name = "identity"
for piece, score, type_ in [("<unk>", 0, kind.UNKNOWN), ("ab", 0, kind.CONTROL), ("a", -1, kind.NORMAL),
                            ("b", -2, kind.NORMAL), ("ab", -0.5, kind.NORMAL)]:
    p = m.pieces.add(); p.piece = piece; p.score = score; p.type = type_
try:
    spm.SentencePieceProcessor(model_proto=m.SerializeToString())
    raise SystemExit("sentencepiece loaded a model with a text defined twice")
except RuntimeError as e:
    assert "already defined" in str(e), e
open(os.path.join(outdir, "defined_twice.model"), "wb").write(m.SerializeToString())
print("wrote", len(records), "models", sentencepiece_version := spm.__version__)
