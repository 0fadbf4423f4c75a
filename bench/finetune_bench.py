#!/usr/bin/env python3
"""Fine-tuning benchmarks (issue: GPT-1 heads, instruction tuning, LoRA): what BENCHMARKS.md reports.

  swift build -c release
  python3 bench/finetune_bench.py [--shared ../shared] [--work /tmp/swiftgpt-finetune-bench]
                                  [--pretrain-steps 2500] [--sft-pretrain-steps 4500]

1. NSMC sentiment: pretrain a char-level gpt-micro (4 layers, 128 wide, block 128) on the first
   8 MB of the NSMC review text (../shared/data/corpus/ko/ko_nsmc_reviews.txt.gz; the 5k test
   reviews are not in it), then fine-tune it GPT-1 style (start/extract tokens, head on the
   extract state, + 0.5·LM loss) on ko_nsmc_raw_train20k.tsv for one epoch, fully and with LoRA
   (r 8, alpha 16, c_attn + c_proj + c_fc), and report accuracy on ko_nsmc_raw_test5k.tsv
   against the majority-class baseline (50 %), with trainable parameters, optimizer state and
   time per step.
2. Korean instruction tuning: pretrain a char-level gpt-micro with a 256-token block on
   ko_all_packages.txt, instruction-tune it with LoRA on ko_constitution_messages.jsonl (ChatML,
   loss on the answers only), and chat with it greedily.
Prints Markdown; the swiftgpt commands are echoed so every number can be reproduced by hand.
"""
import argparse, gzip, os, pathlib, re, subprocess, sys, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = str(ROOT / ".build/release/swiftgpt")


def run(args, stdin=None):
    print("    $ swiftgpt " + " ".join(args), file=sys.stderr, flush=True)
    t = time.time()
    r = subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"swiftgpt {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout, r.stderr, time.time() - t


def summary(err):
    m = re.search(r"trainable parameters: (\d+) of (\d+) \(([\d.]+)%\); optimizer state ([\d.]+) MB; (\d+) steps in ([\d.]+) s \(([\d.]+) ms/step\)", err)
    return dict(zip(["trainable", "total", "percent", "opt_mb", "steps", "seconds", "ms_step"], m.groups()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--work", default="/tmp/swiftgpt-finetune-bench")
    ap.add_argument("--pretrain-steps", type=int, default=2500)
    ap.add_argument("--sft-pretrain-steps", type=int, default=4500)
    args = ap.parse_args()
    shared, work = pathlib.Path(args.shared), pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tasks = shared / "data/tasks"

    # 1. NSMC
    text = gzip.open(shared / "data/corpus/ko/ko_nsmc_reviews.txt.gz", "rt", encoding="utf-8").read(8_000_000)
    (work / "nsmc8m.txt").write_text(text[: text.rfind("\n") + 1], encoding="utf-8")
    run(["prepare", "--input", str(work / "nsmc8m.txt"), "--tokenizer", "char", "--output", str(work / "nsmc-data")])
    out, err, secs = run(["train", "--data", str(work / "nsmc-data"), "--model", "gpt-micro", "--block-size", "128",
                          "--batch-size", "24", "--max-steps", str(args.pretrain_steps), "--eval-every", "500",
                          "--out", str(work / "nsmc-pre"), "--overwrite"])
    val = re.findall(r"val ([\d.]+)", out)[-1]
    print(f"## NSMC sentiment (GPT-1 fine-tuning)\n\nPretraining: char-level gpt-micro, block 128, {args.pretrain_steps} steps "
          f"of 24 × 128 tokens on 8 MB of NSMC reviews: val loss {val}, {secs:.0f} s.\n")
    print("| fine-tuning (1 epoch, 20,000 reviews, batch 32) | test accuracy (5,000) | majority class | trainable parameters | optimizer state | ms/step | time |")
    print("|---|---|---|---|---|---|---|")
    for name, flags in [("full, lr 5e-4", ["--lr", "5e-4"]),
                        ("LoRA r 8 (c_attn, c_proj, c_fc), lr 2e-3", ["--lr", "2e-3", "--lora", "--lora-r", "8", "--lora-alpha", "16",
                                                                       "--lora-targets", "c_attn", "c_proj", "c_fc"])]:
        out, err, secs = run(["finetune", "--task", "classify", "--checkpoint", str(work / "nsmc-pre"),
                              "--train", str(tasks / "ko_nsmc_raw_train20k.tsv"), "--eval", str(tasks / "ko_nsmc_raw_test5k.tsv"),
                              "--epochs", "1", "--batch-size", "32", "--max-length", "128", "--out", str(work / ("nsmc-" + name.split(" ")[0].strip(","))),
                              "--overwrite", *flags])
        acc, base = re.search(r"accuracy ([\d.]+) on \d+ examples \(majority class ([\d.]+)\)", out).groups()
        s = summary(err)
        print(f"| {name} | **{float(acc) * 100:.1f} %** | {float(base) * 100:.1f} % | {int(s['trainable']):,} of {int(s['total']):,} "
              f"({s['percent']} %) | {s['opt_mb']} MB | {s['ms_step']} | {float(s['seconds']):.0f} s |", flush=True)

    # 2. Korean instruction tuning
    run(["prepare", "--input", str(shared / "data/corpus/ko/ko_all_packages.txt"), "--tokenizer", "char", "--output", str(work / "ko-data")])
    out, err, secs = run(["train", "--data", str(work / "ko-data"), "--model", "gpt-micro", "--block-size", "256",
                          "--batch-size", "12", "--max-steps", str(args.sft_pretrain_steps), "--eval-every", "500",
                          "--out", str(work / "ko-pre"), "--overwrite"])
    val = re.findall(r"val ([\d.]+)", out)[-1]
    print(f"\n## Korean instruction tuning (LoRA, ChatML)\n\nPretraining: char-level gpt-micro, block 256, {args.sft_pretrain_steps} "
          f"steps of 12 × 256 tokens on ko_all_packages.txt: val loss {val}, {secs:.0f} s.\n")
    rows = []
    for name, flags in [("full, lr 1e-3", ["--lr", "1e-3"]),
                        ("LoRA r 16 (c_attn, c_proj, c_fc), lr 3e-3", ["--lr", "3e-3", "--lora", "--lora-r", "16", "--lora-alpha", "32",
                                                                       "--lora-targets", "c_attn", "c_proj", "c_fc"])]:
        folder = str(work / ("ko-sft-" + name.split(" ")[0].strip(",")))
        out, err, secs = run(["finetune", "--task", "sft", "--checkpoint", str(work / "ko-pre"),
                              "--train", str(shared / "data/instruct/ko_constitution_messages.jsonl"), "--epochs", "8",
                              "--batch-size", "8", "--out", folder, "--overwrite", *flags])
        s = summary(err)
        rows.append(f"| {name} | {int(s['trainable']):,} ({s['percent']} %) | {s['opt_mb']} MB | {s['ms_step']} | {float(s['seconds']):.0f} s |")
    print("| instruction tuning (402 chats × 8 epochs, batch 8) | trainable parameters | optimizer state | ms/step | time |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    prompts = ["대한민국헌법 제1조의 내용을 알려주세요.", "대한민국헌법 제10조의 내용을 알려주세요.", "다음 헌법 조문은 몇 조입니까?"]
    print("\nGreedy replies (`swiftgpt chat --temperature 0 --max-new-tokens 100`, a fresh conversation per prompt):\n")
    for name in ["full", "LoRA"]:
        for p in prompts:
            out, _, _ = run(["chat", "--checkpoint", str(work / ("ko-sft-" + name)), "--temperature", "0", "--max-new-tokens", "100"],
                            stdin=p + "\n")
            print(f"- {name}: **{p}** → {out.strip().replace(chr(10), ' / ')}")

if __name__ == "__main__":
    main()
