"""Batch-1 generation speed with a KV cache: `swiftgpt sample` vs PyTorch (transformers'
GPT2LMHeadModel with past_key_values, the same checkpoint folder), alternating, same thread count.

Reference only; not part of the product.

    python3 bench/generate_bench.py --checkpoint /tmp/babyrand --tokens 255 --threads 1 --rounds 3
"""
import argparse, json, re, statistics, subprocess, time
import torch
from transformers import GPT2LMHeadModel

p = argparse.ArgumentParser()
p.add_argument("--checkpoint", required=True, help="a SwiftGPT checkpoint folder (HF GPT-2 layout)")
p.add_argument("--tokens", type=int, default=255)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--rounds", type=int, default=3)
p.add_argument("--swiftgpt", default=".build/release/swiftgpt")
p.add_argument("--precision", default="f32", help="swiftgpt sample --precision: f32 or bf16 (PyTorch stays Float32)")
args = p.parse_args()
torch.set_num_threads(args.threads)
model = GPT2LMHeadModel.from_pretrained(args.checkpoint).eval()

@torch.no_grad()
def torch_generate(n, temperature=0.8, top_k=200):
    idx = torch.zeros((1, 1), dtype=torch.long)
    past = None
    start = time.perf_counter()
    for _ in range(n):
        out = model(input_ids=idx, past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits = out.logits[:, -1, :] / temperature
        v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
        logits[logits < v[:, [-1]]] = -float("inf")
        idx = torch.multinomial(torch.softmax(logits, dim=-1), 1)
    return n / (time.perf_counter() - start)

def swift_generate(n):
    tokenizer = "gpt2" if model.config.vocab_size == 50257 else args.checkpoint + "/char_tokenizer.json"
    cmd = [args.swiftgpt, "sample", "--checkpoint", args.checkpoint, "--tokenizer", tokenizer,
           "--max-new-tokens", str(n), "--top-k", "200", "--threads", str(args.threads), "--precision", args.precision]
    err = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    return float(re.search(r"([0-9.]+) tok/s", err).group(1))

torch_generate(8)
rates = {"pytorch": [], "swiftgpt": []}
for _ in range(args.rounds):
    rates["pytorch"].append(torch_generate(args.tokens))
    rates["swiftgpt"].append(swift_generate(args.tokens))
med = {k: statistics.median(v) for k, v in rates.items()}
print(json.dumps({"checkpoint": args.checkpoint, "threads": args.threads, "tokens": args.tokens, "precision": args.precision,
                  "pytorch_tok_s": round(med["pytorch"], 1), "swiftgpt_tok_s": round(med["swiftgpt"], 1),
                  "speedup": round(med["swiftgpt"] / med["pytorch"], 2),
                  "raw": {k: [round(x, 1) for x in v] for k, v in rates.items()}}))
