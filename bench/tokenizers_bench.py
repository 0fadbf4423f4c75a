#!/usr/bin/env python3
"""Side-by-side tokenizer benchmark: SwiftGPT vs tiktoken (encode) and vs rustbpe / HF
tokenizers (BPE training), on the same text in one run, single thread (taskset -c 0).

  pip install tiktoken rustbpe tokenizers
  swift build -c release
  python3 bench/tokenizers_bench.py [--shared ../shared] [--repeats 5] [--skip-train]

Encode: the corpora are split into documents on blank lines ("docs") and regrouped into
~64 KB chunks ("chunks"); tiktoken runs encode_ordinary per unit in a Python loop, SwiftGPT
runs Encoding.encodeOrdinary per unit. Ids of every docs run are compared token for token.
Training: vocab 32,000 with the GPT-4 (cl100k) split pattern on ~15 MB of mixed text.
Prints a Markdown table; numbers are best / median of the repeats.
"""
import argparse, json, os, pathlib, statistics, subprocess, sys, tempfile, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / ".build/release/swiftgpt"
CL100K = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""

def pin():  # one core, like RAYON_NUM_THREADS=1 taskset -c 0 in the notes
    os.sched_setaffinity(0, {0})
    os.environ["RAYON_NUM_THREADS"] = "1"

def units(text, mode):
    docs = [d for d in text.split("\n\n") if d]
    if mode == "docs":
        return docs
    chunks, cur = [], ""
    for d in docs:
        cur = d if not cur else cur + "\n\n" + d
        if len(cur.encode()) >= 65536:
            chunks.append(cur); cur = ""
    return chunks + ([cur] if cur else [])

def tiktoken_encoding(name, shared):
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    if name == "gpt2":
        return tiktoken.Encoding("gpt2", pat_str=r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
                                 mergeable_ranks=load_tiktoken_bpe(str(shared / "data/tiktoken/gpt2.tiktoken")),
                                 special_tokens={"<|endoftext|>": 50256})
    return tiktoken.Encoding("cl100k_base", pat_str=CL100K,
                             mergeable_ranks=load_tiktoken_bpe(str(shared / "data/tiktoken/cl100k_base.tiktoken")),
                             special_tokens={"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                                             "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276})

def swift(args):
    out = subprocess.run(["taskset", "-c", "0", str(BIN), *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)

def bench_encode(shared, repeats):
    import array
    corpora = {
        "English (Austen + Shakespeare, 9.1 MB)": [shared / "data/corpus/en/en_janeausten.txt", shared / "data/corpus/en/en_shakespeare_modern.txt"],
        "Korean (Debian docs + konlpy, 4.3 MB)": [shared / "data/corpus/ko/ko_all_packages.txt"],
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, files in corpora.items():
            text = "\n\n".join(f.read_text(encoding="utf-8") for f in files)
            path = pathlib.Path(tmp) / "corpus.txt"
            path.write_text(text, encoding="utf-8")
            for enc_name in ["gpt2", "cl100k_base"]:
                enc = tiktoken_encoding(enc_name, shared)
                for mode in ["docs", "chunks"]:
                    us = units(text, mode)
                    nbytes = sum(len(u.encode()) for u in us)
                    times, ids = [], None
                    for _ in range(repeats):
                        t = time.perf_counter()
                        ids = [enc.encode_ordinary(u) for u in us]
                        times.append(time.perf_counter() - t)
                    ids_path = pathlib.Path(tmp) / "ids.bin"
                    s = swift(["bench", "encode", "--encoding", enc_name, "--input", str(path), "--mode", mode,
                               "--repeats", str(repeats), "--ids-out", str(ids_path)])
                    theirs = array.array("I", [i for u in ids for i in u])
                    ours = array.array("I"); ours.frombytes(ids_path.read_bytes())
                    assert s["units"] == len(us) and s["bytes"] == nbytes, (s["units"], len(us))
                    same = ours == theirs
                    tk_best, tk_med = nbytes / 1e6 / min(times), nbytes / 1e6 / statistics.median(times)
                    rows.append((label, enc_name, mode, tk_best, tk_med, s["best_mbps"], s["median_mbps"],
                                 s["median_mbps"] / tk_med, same, len(theirs)))
                    print(f"  {label} {enc_name} {mode}: tiktoken {tk_med:.1f} MB/s, swiftgpt {s['median_mbps']:.1f} MB/s, "
                          f"ids identical: {same}", file=sys.stderr)
    print("\n| corpus | encoding | unit | tiktoken MB/s (best / median) | SwiftGPT MB/s (best / median) | ratio (medians) | ids identical |")
    print("|---|---|---|---|---|---|---|")
    for label, enc_name, mode, tb, tm, sb, sm, ratio, same, n in rows:
        print(f"| {label} | {enc_name} | {mode} | {tb:.1f} / {tm:.1f} | {sb:.1f} / {sm:.1f} | **{ratio:.2f}×** | {'yes' if same else 'NO'} ({n:,} tokens) |")
    return all(r[8] for r in rows)

def bench_train(shared, repeats):
    files = [shared / "data/corpus/en/en_janeausten.txt", shared / "data/corpus/en/en_shakespeare_modern.txt",
             shared / "data/corpus/ko/ko_all_packages.txt", shared / "data/corpus/ko/ko_kobill.txt",
             shared / "data/corpus/ko/ko_kolaw_constitution.txt"]
    text = "\n".join(f.read_text(encoding="utf-8") for f in files)
    import gzip
    nsmc = shared / "data/corpus/ko/ko_nsmc_reviews.txt.gz"
    if nsmc.exists():  # top up to ~15 MB with movie reviews
        missing = 15_000_000 - len(text.encode())
        reviews = []
        with gzip.open(nsmc, "rt", encoding="utf-8") as f:
            for line in f:
                if missing <= 0:
                    break
                reviews.append(line)
                missing -= len(line.encode())
        text += "\n" + "".join(reviews)
    nbytes = len(text.encode())
    vocab = 32000
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "train.txt"
        path.write_text(text, encoding="utf-8")
        s = swift(["bench", "train", "--input", str(path), "--vocab-size", str(vocab), "--pattern", "gpt4",
                   "--repeats", str(repeats), "--output", str(pathlib.Path(tmp) / "ours")])
        results.append(("SwiftGPT `RegexTokenizer` (minbpe tie-break)", s["seconds"]))
        ours = [bytes([b]) for b in range(256)]
        lines = (pathlib.Path(tmp) / "ours.model").read_text(encoding="utf-8").split("\n")
        for line in lines[3 + int(lines[2]):]:
            if line:
                a, b = map(int, line.split())
                ours.append(ours[a] + ours[b])
        import rustbpe
        times = []
        for _ in range(repeats):
            tok = rustbpe.Tokenizer()
            t = time.perf_counter()
            tok.train_from_iterator(iter([text]), vocab, pattern=CL100K)
            times.append(time.perf_counter() - t)
        results.append(("rustbpe 0.1.0", times))
        theirs = {bytes(b) for b, _ in tok.get_mergeable_ranks()}
        overlap = len(set(ours) & theirs) / len(theirs)
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers, Regex
        times = []
        for _ in range(repeats):
            hf = Tokenizer(models.BPE())
            hf.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(CL100K.replace(r"\p{N}{1,3}+", r"\p{N}{1,3}")), "isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
            trainer = trainers.BpeTrainer(vocab_size=vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                          show_progress=False)
            t = time.perf_counter()
            hf.train_from_iterator([text], trainer)
            times.append(time.perf_counter() - t)
        results.append(("HF tokenizers 0.23 (byte-level, GPT-4 split)", times))
    anchor = statistics.median(results[1][1])
    print(f"\nBPE training, vocab {vocab:,}, GPT-4 split, {nbytes / 1e6:.1f} MB, 1 thread (taskset -c 0); "
          f"SwiftGPT learned {s['merges']:,} merges; {overlap:.1%} of rustbpe's tokens are in SwiftGPT's vocabulary "
          f"(the rest differ by tie-breaks):\n")
    print("| trainer | seconds (best / median) | vs rustbpe (medians) |")
    print("|---|---|---|")
    for name, times in results:
        print(f"| {name} | {min(times):.2f} / {statistics.median(times):.2f} | {anchor / statistics.median(times):.2f}× |")

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-encode", action="store_true")
    a = ap.parse_args()
    pin()
    shared = pathlib.Path(a.shared)
    ok = True
    if not a.skip_encode:
        ok = bench_encode(shared, a.repeats)
    if not a.skip_train:
        bench_train(shared, max(1, min(a.repeats, 3)))
    sys.exit(0 if ok else 1)
