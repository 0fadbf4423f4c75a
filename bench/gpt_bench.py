#!/usr/bin/env python3
"""SwiftGPT vs PyTorch (eager, CPU) training speed: forward + backward + clip + AdamW on random
tokens, the same model shapes and thread counts, alternated in one run.

  python3 bench/gpt_bench.py [--rounds 3] [--configs tiny,baby8,baby,gpt2]

Builds `swift build -c release` first. Prints a Markdown table (medians over rounds of each run's
median step time) for BENCHMARKS.md. Needs torch from PyPI; not part of the product.
"""
import argparse, json, math, os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWIFTGPT = os.path.join(ROOT, ".build", "release", "swiftgpt")

# name: (layers, heads, embd, vocab, batch, block, bias, steps)
CONFIGS = {
    "tiny": (4, 4, 128, 65, 16, 64, False, 20),
    "baby8": (6, 6, 384, 65, 8, 256, False, 5),
    "baby": (6, 6, 384, 65, 64, 256, False, 3),
    "gpt2": (12, 12, 768, 50304, 4, 256, True, 3),
}

TORCH_STEP = r'''
import json, math, sys, time, torch, torch.nn as nn, torch.nn.functional as F
L, H, C, V, B, T, bias, steps, threads = json.loads(sys.argv[1])
torch.set_num_threads(threads)
torch.manual_seed(0)
class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.ln_1 = nn.LayerNorm(C, bias=bias); s.c_attn = nn.Linear(C, 3 * C, bias=bias)
        s.c_proj = nn.Linear(C, C, bias=bias); s.ln_2 = nn.LayerNorm(C, bias=bias)
        s.c_fc = nn.Linear(C, 4 * C, bias=bias); s.mlp_proj = nn.Linear(4 * C, C, bias=bias)
    def forward(s, x):
        q, k, v = s.c_attn(s.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).contiguous().view(B, T, C)
        x = x + s.c_proj(y)
        return x + s.mlp_proj(F.gelu(s.c_fc(s.ln_2(x)), approximate="tanh"))
class GPT(nn.Module):
    def __init__(s):
        super().__init__()
        s.wte = nn.Embedding(V, C); s.wpe = nn.Embedding(T, C)
        s.h = nn.ModuleList(Block() for _ in range(L)); s.ln_f = nn.LayerNorm(C, bias=bias)
    def forward(s, idx, targets):
        x = s.wte(idx) + s.wpe(torch.arange(T))
        for b in s.h: x = b(x)
        logits = s.ln_f(x) @ s.wte.weight.t()
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))
m = GPT()
decay = [p for p in m.parameters() if p.dim() >= 2]
rest = [p for p in m.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=1e-4)
times = []
for i in range(steps + 2):
    idx = torch.randint(0, V, (B, T)); tgt = torch.randint(0, V, (B, T))
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = m(idx, tgt); loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    if i >= 2: times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"median_ms": times[len(times) // 2] * 1e3}))
'''


def run_torch(cfg, threads):
    L, H, C, V, B, T, bias, steps = cfg
    out = subprocess.run([sys.executable, "-c", TORCH_STEP, json.dumps([L, H, C, V, B, T, bias, steps, threads])],
                         capture_output=True, text=True, check=True,
                         env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    return json.loads(out.stdout.strip().splitlines()[-1])["median_ms"]


def run_swift(cfg, threads):
    L, H, C, V, B, T, bias, steps = cfg
    cmd = [SWIFTGPT, "bench", "gpt", "--n-layer", str(L), "--n-head", str(H), "--n-embd", str(C), "--vocab-size", str(V),
           "--batch-size", str(B), "--block-size", str(T), "--steps", str(steps), "--threads", str(threads)]
    if bias:
        cmd.append("--bias")
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)["median_ms"]


def flops_per_token(cfg):
    L, H, C, V, B, T, bias, _ = cfg
    n = V * C + L * (12 * C * C + (13 * C if bias else 4 * C)) + (2 * C if bias else C)
    return 6 * n + 12 * L * T * C


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--configs", default="tiny,baby8,baby,gpt2")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    subprocess.run(["swift", "build", "-c", "release", "--product", "swiftgpt"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    rows = []
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        for threads in [int(t) for t in args.threads.split(",")]:
            sw, pt = [], []
            for _ in range(args.rounds):  # alternate so both see the same machine state
                sw.append(run_swift(cfg, threads))
                pt.append(run_torch(cfg, threads))
            sw.sort(); pt.sort()
            s_ms, p_ms = sw[len(sw) // 2], pt[len(pt) // 2]
            tokens = cfg[4] * cfg[5]
            gf = flops_per_token(cfg) * tokens / (s_ms / 1e3) / 1e9
            row = (name, threads, tokens / (s_ms / 1e3), tokens / (p_ms / 1e3), p_ms / s_ms, gf)
            rows.append(row)
            print(f"{name} {threads}T: swift {s_ms:.1f} ms ({sw}), torch {p_ms:.1f} ms ({pt})", file=sys.stderr, flush=True)
    print("| config | threads | SwiftGPT tok/s | PyTorch tok/s | speed-up | SwiftGPT GFLOP/s |")
    print("|---|---|---|---|---|---|")
    for name, threads, s, p, ratio, gf in rows:
        print(f"| {name} | {threads} | {s:,.0f} | {p:,.0f} | {ratio:.2f}× | {gf:.0f} |")


if __name__ == "__main__":
    main()
