"""Black-box checks of tokenizers trained by `swiftgpt`, against the libraries users load them
with: a Unigram model written as tokenizer.json loads in HF `tokenizers`, and written as a
SentencePiece `.model` loads in `sentencepiece`, and both encode the corpus as SwiftGPT does.

    python3 Tests/BlackBox/tokenizer_blackbox.py .build/debug/swiftgpt
"""
import json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blackbox import BIN, check, finish, run  # noqa: E402

import sentencepiece as spm  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
corpus = [os.path.join(root, "Tests", "Fixtures", name) for name in ("ko_constitution.txt", "en_austen_40k.txt")]
lines = [l for path in corpus for l in open(path, encoding="utf-8").read().splitlines() if l.strip()]
extra = ["ＡＢＣ ﬁ ㄱㅏ ①② Ⅻ café e\u0301 ㈜ ㎏ 😀", "tab\there  two  spaces", "대한민국은 민주공화국이다."]

with tempfile.TemporaryDirectory() as work:
    files = {ext: os.path.join(work, "unigram" + ext) for ext in (".json", ".model")}
    for path in files.values():
        run("tokenizer", "train", "--pipeline", "hf", "--model", "unigram", "--input", *corpus, "--vocab-size", "1000",
            "--output", path)
    hf = Tokenizer.from_file(files[".json"])
    sp = spm.SentencePieceProcessor(model_file=files[".model"])
    check("tokenizers loads the trained tokenizer.json", hf.get_vocab_size() == 1000, hf.get_vocab_size())
    check("sentencepiece loads the trained .model", sp.get_piece_size() == 1000 and sp.unk_id() == 0,
          (sp.get_piece_size(), sp.unk_id()))
    # SentencePiece always adds its dummy prefix; HF's Metaspace does not before a leading space.
    texts = [t for t in lines + extra if not t.startswith(" ")]
    differ = [t for t in texts if sp.encode(t) != hf.encode(t).ids]
    check(f"sentencepiece and tokenizers encode {len(texts)} lines alike", not differ, differ[:3])
    ours = subprocess.run([BIN, "tokenizer", "encode", "--tokenizer", files[".model"], "--ids", "--text", extra[0]],
                          check=True, capture_output=True, text=True).stdout
    check("swiftgpt encodes with the .model as sentencepiece does", json.loads(ours) == sp.encode(extra[0]), ours)
    check("the .model decodes what it encodes", sp.decode(sp.encode(extra[2])) == extra[2], sp.decode(sp.encode(extra[2])))
finish()
