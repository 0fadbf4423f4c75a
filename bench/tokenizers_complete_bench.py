#!/usr/bin/env python3
"""Issue 18's benchmarks, side by side in one run: Unigram training (SwiftGPT against HF's
UnigramTrainer and sentencepiece's trainer), encoding with offsets (SwiftGPT encodeBatch against
HF encode_batch, ids and offsets compared) and SentencePiece encoding (SwiftGPT against the
sentencepiece package, ids compared).

  pip install tokenizers==0.23.3 sentencepiece==0.2.3
  swift build -c release
  python3 bench/tokenizers_complete_bench.py [--shared ../shared] [--repeats 2]

Corpus: ../shared's Korean (all_packages, kobill, constitution) and English (Austen, modern
Shakespeare) texts, topped up with Korean to 15,000,000 bytes, fed line by line. Training: vocab
32,000, NFKC + Metaspace (sentencepiece: nmt_nfkc, character_coverage 1.0, whole corpus), 1 and 2
threads (RAYON_NUM_THREADS + taskset for HF, num_threads + taskset for sentencepiece, --threads
+ taskset for SwiftGPT). Encoding: the corpus split into documents on blank lines, 1 thread.
Prints Markdown tables; numbers are best / median of the repeats.
"""
import argparse, array, json, os, pathlib, statistics, subprocess, sys, tempfile, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / ".build/release/swiftgpt"


def child(args):
    os.sched_setaffinity(0, set(range(args.threads)))
    lines = open(args.file, encoding="utf-8").read().splitlines(keepends=True)
    docs = [d for d in open(args.file, encoding="utf-8").read().split("\n\n") if d]
    times = []
    if args.child == "hf-train":
        from tokenizers import Tokenizer, models, normalizers as N, pre_tokenizers as P, decoders as D, trainers as T
        for _ in range(args.repeats):
            t = Tokenizer(models.Unigram()); t.normalizer = N.NFKC(); t.pre_tokenizer = P.Metaspace(); t.decoder = D.Metaspace()
            s = time.perf_counter()
            t.train_from_iterator(lines, T.UnigramTrainer(vocab_size=32000, special_tokens=["<unk>"], unk_token="<unk>", show_progress=False))
            times.append(time.perf_counter() - s)
        t.save(args.out)
    elif args.child == "spm-train":
        import io, sentencepiece as spm
        for _ in range(args.repeats):
            model = io.BytesIO()
            s = time.perf_counter()
            spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, model_type=args.model_type, vocab_size=32000,
                                           byte_fallback=args.model_type == "bpe",
                                           num_threads=args.threads, character_coverage=1.0, max_sentence_length=1 << 20,
                                           input_sentence_size=0, minloglevel=2)
            times.append(time.perf_counter() - s)
        open(args.out, "wb").write(model.getvalue())
    elif args.child == "hf-encode":
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(args.tokenizer)
        for _ in range(args.repeats):
            s = time.perf_counter(); enc = tok.encode_batch(docs, add_special_tokens=False); times.append(time.perf_counter() - s)
        array.array("I", [i for e in enc for i in e.ids]).tofile(open(args.out, "wb"))
        array.array("I", [v for e in enc for o in e.offsets for v in o]).tofile(open(args.out + ".offsets", "wb"))
    elif args.child == "spm-encode":
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
        for _ in range(args.repeats):
            s = time.perf_counter(); ids = sp.encode(docs, num_threads=1); times.append(time.perf_counter() - s)
        array.array("I", [i for e in ids for i in e]).tofile(open(args.out, "wb"))
    print(json.dumps({"seconds": times}))


def spawn(kind, threads, **kw):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--child", kind, "--threads", str(threads)]
    for k, v in kw.items():
        cmd += ["--" + k, str(v)]
    return json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])["seconds"]


def swift(threads, *args):
    cmd = ["taskset", "-c", ",".join(map(str, range(threads))), str(BIN), "bench", *map(str, args)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["seconds"]


def fmt(ts):
    return f"{min(ts):.2f} / {statistics.median(ts):.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--child"); ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--file"); ap.add_argument("--tokenizer"); ap.add_argument("--out")
    ap.add_argument("--model_type", default="unigram")
    args = ap.parse_args()
    if args.child:
        return child(args)
    shared = pathlib.Path(args.shared) / "data" / "corpus"
    parts = [shared / "ko" / n for n in ("ko_all_packages.txt", "ko_kobill.txt", "ko_kolaw_constitution.txt")]
    parts += [shared / "en" / n for n in ("en_janeausten.txt", "en_shakespeare_modern.txt")]
    data = b"".join(open(p, "rb").read() for p in parts)
    data += open(parts[0], "rb").read()  # top up with Korean, then cut at a line end
    text = data[: data.rfind(b"\n", 0, 15_000_000) + 1].decode("utf-8")
    tmp = pathlib.Path(tempfile.mkdtemp())
    corpus = tmp / "corpus.txt"
    corpus.write_text(text, encoding="utf-8")
    print(f"corpus: {len(text.encode()) / 1e6:.1f} MB, {text.count(chr(10))} lines\n")

    print("| Unigram training, vocab 32,000 | threads | SwiftGPT s | HF UnigramTrainer s | sentencepiece s | vs HF | vs sentencepiece | pieces shared with HF |")
    print("|---|---|---|---|---|---|---|---|")
    for threads in (1, 2):
        ours = swift(threads, "train", "--input", corpus, "--pipeline", "hf", "--model", "unigram", "--vocab-size", "32000",
                     "--threads", threads, "--repeats", args.repeats, "--output", tmp / "ours.json")
        hf = spawn("hf-train", threads, file=corpus, repeats=args.repeats, out=tmp / "hf.json")
        sp = spawn("spm-train", threads, file=corpus, repeats=1, out=tmp / "spm.model")
        mine = {p for p, _ in json.load(open(tmp / "ours.json"))["model"]["vocab"]}
        theirs = {p for p, _ in json.load(open(tmp / "hf.json"))["model"]["vocab"]}
        print(f"| {len(text.encode()) / 1e6:.1f} MB KO+EN | {threads} | {fmt(ours)} | {fmt(hf)} | {fmt(sp)} | "
              f"{statistics.median(hf) / statistics.median(ours):.1f}x | {statistics.median(sp) / statistics.median(ours):.1f}x | "
              f"{len(mine & theirs) / len(theirs) * 100:.2f} % |", flush=True)

    print("\n| Encoding with offsets (1 thread) | SwiftGPT encodeBatch MB/s | HF encode_batch MB/s | speed-up | ids | offsets |")
    print("|---|---|---|---|---|---|")
    nbytes = len(text.encode())
    for name, tok in [("HF-trained Unigram (NFKC + Metaspace)", tmp / "hf.json"),
                      ("hf_full (NFKC + Lowercase, BPE ##)", pathlib.Path(args.shared) / "vectors" / "hf_full_tokenizer.json")]:
        ours = swift(1, "encode", "--tokenizer", tok, "--input", corpus, "--repeats", args.repeats, "--ids-out", tmp / "ours.ids",
                     "--offsets-out", tmp / "ours.offsets")
        hf = spawn("hf-encode", 1, file=corpus, tokenizer=tok, repeats=args.repeats, out=tmp / "hf.ids")
        same_ids = open(tmp / "ours.ids", "rb").read() == open(tmp / "hf.ids", "rb").read()
        same_offsets = open(tmp / "ours.offsets", "rb").read() == open(tmp / "hf.ids.offsets", "rb").read()
        print(f"| {name} | {nbytes / 1e6 / statistics.median(ours):.1f} | {nbytes / 1e6 / statistics.median(hf):.1f} | "
              f"{statistics.median(hf) / statistics.median(ours):.1f}x | {'identical' if same_ids else 'DIFFER'} | "
              f"{'identical' if same_offsets else 'DIFFER'} |", flush=True)

    print("\n| SentencePiece encode (1 thread) | SwiftGPT MB/s | sentencepiece MB/s | speed-up | ids |")
    print("|---|---|---|---|---|")
    spawn("spm-train", 2, file=corpus, repeats=1, out=tmp / "spm-bpe.model", model_type="bpe")
    for name, model in [("Unigram 32k, nmt_nfkc (trained above)", "spm.model"), ("BPE 32k, nmt_nfkc, byte fallback", "spm-bpe.model")]:
        ours = swift(1, "encode", "--tokenizer", tmp / model, "--input", corpus, "--repeats", args.repeats, "--ids-out", tmp / "ours.ids")
        sp = spawn("spm-encode", 1, file=corpus, tokenizer=tmp / model, repeats=args.repeats, out=tmp / "spm.ids")
        same = open(tmp / "ours.ids", "rb").read() == open(tmp / "spm.ids", "rb").read()
        print(f"| {name} | {nbytes / 1e6 / statistics.median(ours):.1f} | {nbytes / 1e6 / statistics.median(sp):.1f} | "
              f"{statistics.median(sp) / statistics.median(ours):.2f}x | {'identical' if same else 'DIFFER'} |")

if __name__ == "__main__":
    main()
