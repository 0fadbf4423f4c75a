#!/usr/bin/env python3
"""Side-by-side benchmark of the HF-style pipeline: SwiftGPT vs HF `tokenizers` (BpeTrainer
training and encoding) on the same text in one run, plus interop checks.

  pip install tokenizers transformers
  swift build -c release
  python3 bench/pipeline_bench.py [--shared ../shared] [--repeats 3]

Training: the seed pipeline (WhitespaceSplit + Punctuation, '##' continuation prefix, vocab
32,000, special <|endoftext|>) and a byte-level BPE (GPT-2 split, vocab 32,000) on ~15 MB of
English (Austen + Shakespeare, repeated to 15 MB) fed line by line, 1 and 2 threads
(RAYON_NUM_THREADS + taskset for HF, --threads + taskset for SwiftGPT). Times cover counting
and merging, not reading the file. Without a prefix the two vocabularies must be identical.
Encoding: tokenizers trained by HF, loaded by both; the corpora split into documents on blank
lines; HF encode_batch vs SwiftGPT encodeBatch, 1 thread; ids compared document by document.
Interop: the tokenizer.json SwiftGPT trains and writes is loaded by HF and by
PreTrainedTokenizerFast (folder layout) and must encode the corpus identically.
Prints Markdown tables; numbers are best / median of the repeats.
"""
import argparse, json, os, pathlib, statistics, subprocess, sys, tempfile, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / ".build/release/swiftgpt"

def hf_train(lines, kind, vocab):
    from tokenizers import Tokenizer, models, pre_tokenizers as P, trainers as T
    t = Tokenizer(models.BPE())
    if kind == "seed":
        t.pre_tokenizer = P.Sequence([P.WhitespaceSplit(), P.Punctuation()])
        tr = T.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"], continuing_subword_prefix="##", show_progress=False)
    else:
        t.pre_tokenizer = P.ByteLevel(add_prefix_space=False)
        tr = T.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"], initial_alphabet=P.ByteLevel.alphabet(), show_progress=False)
    s = time.perf_counter()
    t.train_from_iterator(lines, tr)
    return time.perf_counter() - s, t

def child(args):
    """Runs one HF measurement in a process pinned to `threads` cores (rayon reads its env at start)."""
    threads = args.threads
    os.sched_setaffinity(0, set(range(threads)))
    lines = open(args.file, encoding="utf-8").read().splitlines(keepends=True)
    if args.child == "train":
        times = []
        for _ in range(args.repeats):
            dt, t = hf_train(lines, args.kind, 32000)
            times.append(dt)
        if args.out: t.save(args.out)
        print(json.dumps({"seconds": times}))
    else:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(args.tokenizer)
        docs = [d for d in open(args.file, encoding="utf-8").read().split("\n\n") if d]
        times = []
        for _ in range(args.repeats):
            s = time.perf_counter(); enc = tok.encode_batch(docs, add_special_tokens=False); times.append(time.perf_counter() - s)
        if args.out:
            import array
            array.array("I", [i for e in enc for i in e.ids]).tofile(open(args.out, "wb"))
        print(json.dumps({"seconds": times, "bytes": sum(len(d.encode()) for d in docs)}))

def run_hf(mode, threads, **kw):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--child", mode, "--threads", str(threads)]
    for k, v in kw.items():
        cmd += ["--" + k.replace("_", "-"), str(v)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)

def swift(threads, *args):
    cores = ",".join(str(c) for c in range(threads))
    out = subprocess.run(["taskset", "-c", cores, str(BIN), *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)

def best_median(xs, rate=False):
    return (max(xs) if rate else min(xs)), statistics.median(xs)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child"); ap.add_argument("--threads", type=int, default=1); ap.add_argument("--file")
    ap.add_argument("--kind"); ap.add_argument("--tokenizer"); ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        return child(args)
    shared = pathlib.Path(args.shared)
    en = b"".join((shared / "data/corpus/en" / f).read_bytes() for f in ["en_janeausten.txt", "en_shakespeare_modern.txt"])
    en = (en * 2)[:15_255_075]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "en.txt").write_bytes(en)
        ko = shared / "data/corpus/ko/ko_all_packages.txt"
        print("## Training, vocab 32,000, 15.3 MB English (s, best / median)\n")
        print("| pipeline | threads | HF tokenizers | SwiftGPT | speed-up (median) | same vocab + merges |")
        print("|---|---|---|---|---|---|")
        for kind in ["seed", "bytelevel"]:
            for threads in [1, 2]:
                hf_out = tmp / f"hf_{kind}.json"
                hf = run_hf("train", threads, file=tmp / "en.txt", kind=kind, repeats=args.repeats, out=hf_out)["seconds"]
                sw_out = tmp / f"sw_{kind}.json"
                flags = ["--pre-tokenizer", "byte-level"] if kind == "bytelevel" else []
                sw = swift(threads, "bench", "train", "--pipeline", "hf", "--input", str(tmp / "en.txt"), "--vocab-size", "32000",
                           "--special", "<|endoftext|>", "--threads", str(threads), "--repeats", str(args.repeats),
                           "--output", str(sw_out), *flags)["seconds"]
                a, b = json.load(open(hf_out))["model"], json.load(open(sw_out))["model"]
                same = "yes" if (a["vocab"], a["merges"]) == (b["vocab"], b["merges"]) else ("n/a ('##' ids are hash-ordered in HF)" if kind == "seed" else "**no**")
                hb, hm = best_median(hf); sb, sm = best_median(sw)
                print(f"| {kind} | {threads} | {hb:.2f} / {hm:.2f} | {sb:.2f} / {sm:.2f} | **{hm / sm:.2f}×** | {same} |")
        print("\n## Encoding, 1 thread, documents split on blank lines (MB/s, best / median)\n")
        print("| tokenizer (trained by HF) | corpus | HF encode_batch | SwiftGPT encodeBatch | speed-up (median) | ids identical |")
        print("|---|---|---|---|---|---|")
        for kind in ["seed", "bytelevel"]:
            tok = tmp / f"hf_{kind}.json"
            for label, path in [("English 15.3 MB", tmp / "en.txt"), ("Korean 4.3 MB", ko)]:
                hf = run_hf("encode", 1, file=path, tokenizer=tok, repeats=args.repeats, out=tmp / "hf.ids")
                sw = swift(1, "bench", "encode", "--tokenizer", str(tok), "--input", str(path), "--mode", "docs",
                           "--repeats", str(args.repeats), "--ids-out", str(tmp / "sw.ids"))
                same = (tmp / "hf.ids").read_bytes() == (tmp / "sw.ids").read_bytes()
                mb = hf["bytes"] / 1e6
                hb, hm = best_median([mb / s for s in hf["seconds"]], rate=True)
                sb, sm = best_median([mb / s for s in sw["seconds"]], rate=True)
                print(f"| {kind} | {label} | {hb:.2f} / {hm:.2f} | {sb:.2f} / {sm:.2f} | **{sm / hm:.2f}×** | {'yes' if same else '**no**'} |")
        print("\n## Interop: SwiftGPT-trained tokenizer.json in HF and transformers\n")
        from tokenizers import Tokenizer
        from transformers import PreTrainedTokenizerFast
        docs = [d for d in ko.read_text(encoding="utf-8").split("\n\n") if d][:2000]
        for kind, flags in [("seed", []), ("bytelevel", ["--pre-tokenizer", "byte-level"])]:
            folder = tmp / f"folder_{kind}"
            subprocess.run([str(BIN), "tokenizer", "train", "--pipeline", "hf", "--input", str(ko), "--vocab-size", "8000",
                            "--special", "<|endoftext|>", "--output", str(folder), *flags], check=True, capture_output=True)
            hf_tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
            fast = PreTrainedTokenizerFast.from_pretrained(str(folder))
            sw_ids = []
            for d in docs:
                out = subprocess.run([str(BIN), "tokenizer", "encode", "--tokenizer", str(folder / "tokenizer.json"), "--ids", "--text=" + d],
                                     check=True, capture_output=True, text=True).stdout if len(sw_ids) < 50 else None
                if out is None: break
                sw_ids.append(json.loads(out))
            same_hf = all(hf_tok.encode(d).ids == ids for d, ids in zip(docs, sw_ids))
            same_fast = all(fast(d)["input_ids"] == hf_tok.encode(d).ids for d in docs)
            roundtrip = hf_tok.to_str(pretty=True) == (folder / "tokenizer.json").read_text(encoding="utf-8")
            print(f"- {kind}: HF loads it and encodes {len(sw_ids)} Korean documents to SwiftGPT's ids: {'yes' if same_hf else 'NO'}; "
                  f"PreTrainedTokenizerFast.from_pretrained(folder) equals HF on {len(docs)} documents: {'yes' if same_fast else 'NO'}; "
                  f"HF re-saves the file byte for byte: {'yes' if roundtrip else 'NO'}")

if __name__ == "__main__":
    main()
