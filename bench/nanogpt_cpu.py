"""nanoGPT's README CPU run (model.py + train.py logic, condensed) on a dataset folder written
by `swiftgpt prepare`, for a side-by-side comparison with `swiftgpt train`.

Reference only (PyTorch); not part of the product. Same semantics as nanoGPT at commit 3adf61e:
GPT with tied wte/lm_head, bias-free LayerNorm/Linear, nn.GELU, SDPA causal attention, init
N(0, 0.02) with c_proj scaled by 1/sqrt(2L); AdamW with decay on every >=2-D parameter; warmup +
cosine to min_lr; clip 1.0; estimate_loss over eval_iters random batches of both splits.

    OMP_NUM_THREADS=1 python3 bench/nanogpt_cpu.py --data /tmp/ts --threads 1
prints one JSON line: val loss at each eval, wall time, median ms/iter.
"""
import argparse, json, math, os, statistics, time
import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--n_layer", type=int, default=4)
p.add_argument("--n_head", type=int, default=4)
p.add_argument("--n_embd", type=int, default=128)
p.add_argument("--block_size", type=int, default=64)
p.add_argument("--batch_size", type=int, default=12)
p.add_argument("--max_iters", type=int, default=2000)
p.add_argument("--eval_interval", type=int, default=250)
p.add_argument("--eval_iters", type=int, default=20)
p.add_argument("--seed", type=int, default=1337)
p.add_argument("--gelu", default="none", choices=["none", "tanh"], help="nanoGPT: none (erf); GPT-2/SwiftGPT: tanh")
p.add_argument("--eval_checkpoint", help="instead of training: load a SwiftGPT checkpoint folder and print its "
               "loss over --eval_batches random batches of each split")
p.add_argument("--eval_batches", type=int, default=500)
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)

def load(split):
    files = sorted(f for f in os.listdir(args.data) if f.startswith(split) and f.endswith(".bin"))
    arrays = []
    for f in files:
        raw = np.fromfile(os.path.join(args.data, f), dtype=np.uint8)
        header = raw[:1024].view(np.int32)
        if header[0] == 20240520:
            arrays.append(raw[1024:].view(np.uint16).astype(np.int64))
        else:
            arrays.append(raw.view(np.uint16).astype(np.int64))
    return torch.from_numpy(np.concatenate(arrays))

data = {"train": load("train"), "val": load("val")}
meta = json.load(open(os.path.join(args.data, "meta.json")))
vocab = meta["vocab_size"]

class Block(nn.Module):
    def __init__(s, C, H):
        super().__init__()
        s.ln_1 = nn.LayerNorm(C, bias=False); s.ln_2 = nn.LayerNorm(C, bias=False)
        s.c_attn = nn.Linear(C, 3 * C, bias=False); s.c_proj = nn.Linear(C, C, bias=False)
        s.c_fc = nn.Linear(C, 4 * C, bias=False); s.mlp_proj = nn.Linear(4 * C, C, bias=False)
        s.H = H
    def forward(s, x):
        B, T, C = x.shape
        q, k, v = s.c_attn(s.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, s.H, C // s.H).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).contiguous().view(B, T, C)
        x = x + s.c_proj(y)
        return x + s.mlp_proj(F.gelu(s.c_fc(s.ln_2(x)), approximate=args.gelu))

class GPT(nn.Module):
    def __init__(s):
        super().__init__()
        C = args.n_embd
        s.wte = nn.Embedding(vocab, C); s.wpe = nn.Embedding(args.block_size, C)
        s.h = nn.ModuleList([Block(C, args.n_head) for _ in range(args.n_layer)])
        s.ln_f = nn.LayerNorm(C, bias=False)
        s.lm_head = nn.Linear(C, vocab, bias=False)
        s.wte.weight = s.lm_head.weight
        s.apply(s._init)
        for n, prm in s.named_parameters():
            if n.endswith("c_proj.weight") or n.endswith("mlp_proj.weight"):
                nn.init.normal_(prm, 0.0, 0.02 / math.sqrt(2 * args.n_layer))
    def _init(s, m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
    def forward(s, idx, targets):
        x = s.wte(idx) + s.wpe(torch.arange(idx.shape[1]))
        for b in s.h:
            x = b(x)
        logits = s.lm_head(s.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

def get_batch(split):
    d = data[split]
    ix = torch.randint(len(d) - args.block_size, (args.batch_size,))
    x = torch.stack([d[i:i + args.block_size] for i in ix])
    y = torch.stack([d[i + 1:i + 1 + args.block_size] for i in ix])
    return x, y

model = GPT()
params = [q for q in model.parameters() if q.requires_grad]
opt = torch.optim.AdamW([{"params": [q for q in params if q.dim() >= 2], "weight_decay": 0.1},
                         {"params": [q for q in params if q.dim() < 2], "weight_decay": 0.0}],
                        lr=1e-3, betas=(0.9, 0.99))

def get_lr(it, lr=1e-3, min_lr=1e-4, warmup=100, decay_iters=args.max_iters):
    if it < warmup: return lr * (it + 1) / (warmup + 1)
    if it > decay_iters: return min_lr
    r = (it - warmup) / (decay_iters - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * r)) * (lr - min_lr)

@torch.no_grad()
def estimate_loss():
    model.eval()
    out = {}
    for split in ("train", "val"):
        out[split] = torch.stack([model(*get_batch(split)) for _ in range(args.eval_iters)]).mean().item()
    model.train()
    return out

if args.eval_checkpoint:
    from safetensors.torch import load_file
    sd = load_file(os.path.join(args.eval_checkpoint, "model.safetensors"))
    conv = {"attn.c_attn": "c_attn", "attn.c_proj": "c_proj", "mlp.c_fc": "c_fc", "mlp.c_proj": "mlp_proj"}
    with torch.no_grad():
        model.wte.weight.copy_(sd["transformer.wte.weight"]); model.wpe.weight.copy_(sd["transformer.wpe.weight"])
        model.ln_f.weight.copy_(sd["transformer.ln_f.weight"])
        for i, b in enumerate(model.h):
            pre = f"transformer.h.{i}."
            b.ln_1.weight.copy_(sd[pre + "ln_1.weight"]); b.ln_2.weight.copy_(sd[pre + "ln_2.weight"])
            for hf, mine in conv.items():
                getattr(b, mine).weight.copy_(sd[pre + hf + ".weight"].t())  # Conv1D [in, out] -> Linear [out, in]
    args.eval_iters = args.eval_batches
    print(json.dumps({"checkpoint": args.eval_checkpoint, **{k: round(v, 4) for k, v in estimate_loss().items()}}))
    raise SystemExit

start = time.time()
evals, iter_ms = [], []
it = 0
while True:
    for g in opt.param_groups: g["lr"] = get_lr(it)
    if it % args.eval_interval == 0:
        losses = estimate_loss()
        evals.append({"step": it, "train": round(losses["train"], 4), "val": round(losses["val"], 4)})
    if it == args.max_iters:
        break
    t0 = time.time()
    loss = model(*get_batch("train"))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    iter_ms.append((time.time() - t0) * 1000)
    it += 1
print(json.dumps({"impl": "pytorch-nanogpt", "threads": args.threads, "wall_s": round(time.time() - start, 2),
                  "median_ms_per_iter": round(statistics.median(iter_ms), 2), "evals": evals}))
