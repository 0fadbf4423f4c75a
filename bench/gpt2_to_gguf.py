"""Writes a HF GPT-2 folder (config.json + model.safetensors, as SwiftGPT saves them) with the
gpt2 tokenizer as an F32 GGUF file for llama.cpp — the same weights, for the serving anchor.

    python3 bench/gpt2_to_gguf.py MODEL_FOLDER gpt2.tiktoken OUT.gguf

llama.cpp's own converter (convert_hf_to_gguf.py) needs torch; this writes the same tensors and
keys with the `gguf` package alone: Conv1D weights transposed to [out, in], `output` = the tied
token embedding, and the gpt2 vocabulary and merges recovered from tiktoken's rank file.
"""
import base64, json, struct, sys

import gguf
import numpy as np

folder, ranks_file, out = sys.argv[1:4]
config = json.load(open(folder + "/config.json"))


def safetensors(path):
    data = open(path, "rb").read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    base = 8 + size
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        assert info["dtype"] == "F32", info["dtype"]
        yield name, np.frombuffer(data[base + start:base + end], dtype=np.float32).reshape(info["shape"])


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


# The vocabulary in rank order, and each token's merge: the two parts BPE joins to make it,
# found by merging its bytes with the lower ranks only.
ranks = {}
for line in open(ranks_file, "rb"):
    token, rank = line.split()
    ranks[base64.b64decode(token)] = int(rank)
byte_text = bytes_to_unicode()
show = lambda b: "".join(byte_text[x] for x in b)
tokens, merges = [None] * len(ranks), []
for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
    tokens[rank] = show(token)
    if len(token) < 2:
        continue
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        best = min(range(len(parts) - 1), key=lambda i: ranks.get(parts[i] + parts[i + 1], 1 << 60))
        parts[best:best + 2] = [parts[best] + parts[best + 1]]
    merges.append(show(parts[0]) + " " + show(parts[1]))
tokens.append("<|endoftext|>")  # id 50256
assert len(tokens) == config["vocab_size"], (len(tokens), config["vocab_size"])

writer = gguf.GGUFWriter(out, "gpt2")
writer.add_name("swiftgpt-gpt2")
writer.add_context_length(config["n_positions"])
writer.add_embedding_length(config["n_embd"])
writer.add_feed_forward_length(4 * config["n_embd"])
writer.add_block_count(config["n_layer"])
writer.add_head_count(config["n_head"])
writer.add_layer_norm_eps(config["layer_norm_epsilon"])
writer.add_file_type(gguf.LlamaFileType.ALL_F32)
writer.add_tokenizer_model("gpt2")
writer.add_tokenizer_pre("gpt-2")
writer.add_token_list(tokens)
writer.add_token_types([gguf.TokenType.NORMAL] * (len(tokens) - 1) + [gguf.TokenType.CONTROL])
writer.add_token_merges(merges)
writer.add_bos_token_id(50256)
writer.add_eos_token_id(50256)

names = {"wte": "token_embd", "wpe": "position_embd", "ln_f": "output_norm", "ln_1": "attn_norm", "attn.c_attn": "attn_qkv",
         "attn.c_proj": "attn_output", "ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
for name, tensor in safetensors(folder + "/model.safetensors"):
    name = name.removeprefix("transformer.")
    if name.startswith("lm_head") or name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
        continue
    parts = name.split(".")
    if parts[0] == "h":
        block, module, kind = parts[1], ".".join(parts[2:-1]), parts[-1]
        target = f"blk.{block}.{names[module]}.{kind}"
        if kind == "weight" and module in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            tensor = tensor.T  # Conv1D [in, out] → [out, in]
    else:
        module, kind = ".".join(parts[:-1]), parts[-1]
        target = f"{names[module]}.{kind}"
    writer.add_tensor(target, np.ascontiguousarray(tensor))
    if target == "token_embd.weight":
        writer.add_tensor("output.weight", np.ascontiguousarray(tensor))  # tied
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
print(f"wrote {out}")
