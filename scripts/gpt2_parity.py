#!/usr/bin/env python3
"""Reference fixtures for SwiftGPT's GPT (not part of the product; needs torch, transformers,
safetensors from PyPI).

  python3 scripts/gpt2_parity.py make      # writes Tests/Fixtures/gpt2-tiny/
  python3 scripts/gpt2_parity.py check     # a folder saved by SwiftGPT loads in transformers
                                           # and gives SwiftGPT's logits

`make` builds a tiny random GPT2LMHeadModel (2 layers, 4 heads, 64 wide, vocab 96, 32 positions,
every parameter randomised, dropout 0), saves it with save_pretrained, and dumps for a fixed batch
the logits, the loss (targets with ignored positions), every parameter gradient and every parameter
after one AdamW step into expected.safetensors.
"""
import os, subprocess, sys, tempfile
import torch
import torch.nn.functional as F
from safetensors.torch import save_file, load_file
from transformers import GPT2Config, GPT2LMHeadModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "Tests", "Fixtures", "gpt2-tiny")
B, T, V = 2, 16, 96
LR, WD = 1e-3, 0.1


def batch():
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    targets[0, 3] = -100
    targets[1, 10:] = -100
    return ids, targets


def make():
    torch.manual_seed(1234)
    config = GPT2Config(vocab_size=V, n_positions=32, n_embd=64, n_layer=2, n_head=4,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config).float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0, 0.05)
            elif ".ln_" in name:
                p.normal_(1, 0.1)
            else:
                p.normal_(0, 0.08)
    model.eval()
    os.makedirs(FIXTURE, exist_ok=True)
    model.save_pretrained(FIXTURE, safe_serialization=True)
    ids, targets = batch()
    logits = model(ids).logits
    loss = F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-100)
    loss.backward()
    out = {"ids": ids.float(), "targets": targets.float(),  # small integers, exact in F32
           "logits": logits.detach().contiguous(), "loss": loss.detach().reshape(1)}
    named = dict(model.named_parameters())  # lm_head.weight is tied to wte and not listed
    for name, p in named.items():
        out["grad." + name] = p.grad.detach().clone()
    # AdamW: weight decay on the Conv1D weight matrices only (SwiftGPT's rule).
    decay = [p for n, p in named.items() if n.endswith(".weight") and p.dim() == 2 and ".wte." not in n and ".wpe." not in n]
    other = [p for n, p in named.items() if not any(p is q for q in decay)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": other, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    opt.step()
    for name, p in named.items():
        out["adamw." + name] = p.detach().clone()
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(FIXTURE, "expected.safetensors"),
              metadata={"lr": str(LR), "weight_decay": str(WD)})
    print(f"wrote {FIXTURE}: loss {loss.item():.6f}")


def check():
    """Has SwiftGPT save a model (the fixture after one AdamW step) and its logits, then loads the
    folder with transformers and compares."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SWIFTGPT_EXPORT_DIR=tmp)
        subprocess.run(["swift", "test", "--filter", "exportsAFolderTransformersLoads"], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL)
        model = GPT2LMHeadModel.from_pretrained(tmp).float().eval()
        swift = load_file(os.path.join(tmp, "swift_logits.safetensors"))
        with torch.no_grad():
            logits = model(swift["ids"].long()).logits  # ids stored as F32
        err = ((logits - swift["logits"]).abs().max() / swift["logits"].abs().max()).item()
        print(f"transformers loaded SwiftGPT's folder; max relative logit difference {err:.2e}")
        sys.exit(0 if err <= 1e-5 else 1)


if __name__ == "__main__":
    {"make": make, "check": check}[sys.argv[1] if len(sys.argv) > 1 else "make"]()
