#!/usr/bin/env python3
"""PEFT LoRA reference for SwiftGPT (not part of the product; needs torch, transformers, peft,
safetensors from PyPI).

  python3 scripts/peft_reference.py make             # writes Tests/Fixtures/gpt2-tiny-lora/
  python3 scripts/peft_reference.py check BASE ADAPTER MERGED
        # an adapter SwiftGPT saved loads in PEFT onto the HF folder BASE, and gives the logits
        # of MERGED, the folder `swiftgpt lora merge` wrote; PEFT's merge_and_unload agrees too

`make` puts LoRA (r 4, alpha 8, targets c_attn and c_proj) on the gpt2-tiny fixture with random
A and B (so the update is not zero), saves it with save_pretrained, and dumps the logits of the
adapted model and of merge_and_unload() for a fixed batch into expected.safetensors.
`check` runs random ids through PEFT(BASE + ADAPTER), through PEFT's merge_and_unload(), and
through transformers on MERGED, and fails unless all three agree to 1e-5 (relative).
"""
import os, sys
import torch
from safetensors.torch import save_file, load_file
from transformers import GPT2LMHeadModel
from peft import LoraConfig, PeftModel, get_peft_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(ROOT, "Tests", "Fixtures", "gpt2-tiny")
FIXTURE = os.path.join(ROOT, "Tests", "Fixtures", "gpt2-tiny-lora")


def ids():
    return torch.randint(0, 96, (2, 16), generator=torch.Generator().manual_seed(11))


def make():
    torch.manual_seed(99)
    base = GPT2LMHeadModel.from_pretrained(BASE).float().eval()
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"], lora_dropout=0.0,
                        fan_in_fan_out=True, init_lora_weights=True)
    model = get_peft_model(base, config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)  # PEFT starts B at zero; a random B makes the test meaningful
    model.eval()
    model.save_pretrained(FIXTURE)
    x = ids()
    with torch.no_grad():
        adapted = model(x).logits
        merged = model.merge_and_unload()(x).logits
    save_file({"ids": x.to(torch.float32), "logits": adapted.contiguous(), "merged_logits": merged.contiguous()},
              os.path.join(FIXTURE, "expected.safetensors"))
    for f in os.listdir(FIXTURE):
        if f == "README.md":
            os.remove(os.path.join(FIXTURE, f))
    print("wrote", FIXTURE)


def check(base_dir, adapter, merged_dir):
    base = GPT2LMHeadModel.from_pretrained(base_dir).float().eval()
    model = PeftModel.from_pretrained(base, adapter).eval()
    x = torch.randint(0, base.config.vocab_size, (2, min(16, base.config.n_positions)), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        adapted = model(x).logits
        swift = GPT2LMHeadModel.from_pretrained(merged_dir).float().eval()(x).logits
        peft_merged = model.merge_and_unload()(x).logits
    rel = lambda a, b: ((a - b).abs().max() / b.abs().max()).item()
    e1, e2 = rel(swift, adapted), rel(peft_merged, adapted)
    print(f"PEFT loads {adapter} onto {base_dir}: SwiftGPT's merged model vs PEFT adapter logits {e1:.2e}; "
          f"PEFT merge_and_unload vs adapter {e2:.2e}")
    sys.exit(0 if max(e1, e2) < 1e-5 else 1)


if __name__ == "__main__":
    {"make": lambda: make(), "check": lambda: check(*sys.argv[2:5])}[sys.argv[1]]()
