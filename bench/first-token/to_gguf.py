#!/usr/bin/env python3
"""Writes an fp32 GGUF (llama architecture) from a llama-family Hugging Face folder (config.json + model.safetensors),
for the first-token comparison against llama.cpp (run.sh here). Plain Python, no numpy: the tensor
names and the q/k row permutation follow llama.cpp's convert_hf_to_gguf.py (LlamaModel.permute); the vocabulary is a
placeholder (the comparison feeds token ids): <unk>, <s>, </s>, the 256 byte tokens, then tokN.
usage: to_gguf.py HF_DIR OUT.gguf"""
import json, struct, sys

def main(src, out):
    cfg = json.load(open(f"{src}/config.json"))
    if cfg.get("model_type") not in ("llama", None):
        sys.exit(f"{src}: model_type {cfg.get('model_type')} is not llama")
    raw = open(f"{src}/model.safetensors", "rb").read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    data = memoryview(raw)[8 + hlen:]
    n_head, n_kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    hidden, vocab = cfg["hidden_size"], cfg["vocab_size"]

    def tensor(name):
        e = header[name]
        if e["dtype"] != "F32": sys.exit(f"{name}: dtype {e['dtype']}; this script writes fp32 checkpoints only")
        b, f = e["data_offsets"]
        return e["shape"], data[b:f]

    def permute(shape, buf, heads):
        rows, cols = shape
        hd = rows // heads
        row = cols * 4
        out = bytearray(len(buf))
        for h in range(heads):
            for i in range(hd // 2):
                for j in range(2):
                    src_r, dst_r = h * hd + j * (hd // 2) + i, h * hd + 2 * i + j
                    out[dst_r * row:(dst_r + 1) * row] = buf[src_r * row:(src_r + 1) * row]
        return out

    tensors = [("token_embd.weight", *tensor("model.embed_tokens.weight")), ("output_norm.weight", *tensor("model.norm.weight"))]
    head = "lm_head.weight" if "lm_head.weight" in header else "model.embed_tokens.weight"
    tensors.append(("output.weight", *tensor(head)))
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate",
             "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for layer in range(cfg["num_hidden_layers"]):
        for hf, gg in names.items():
            shape, buf = tensor(f"model.layers.{layer}.{hf}.weight")
            if gg == "attn_q": buf = permute(shape, buf, n_head)
            if gg == "attn_k": buf = permute(shape, buf, n_kv)
            tensors.append((f"blk.{layer}.{gg}.weight", shape, buf))

    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b
    kv = []
    def put(key, typ, payload): kv.append(s(key) + struct.pack("<I", typ) + payload)
    U32, F32, STR, ARR, I32 = 4, 6, 8, 9, 5
    put("general.architecture", STR, s("llama"))
    put("general.name", STR, s("moedsl-first-token"))
    put("general.alignment", U32, struct.pack("<I", 32))
    for key, value in [("context_length", cfg.get("max_position_embeddings", 2048)), ("embedding_length", hidden),
                       ("block_count", cfg["num_hidden_layers"]), ("feed_forward_length", cfg["intermediate_size"]),
                       ("attention.head_count", n_head), ("attention.head_count_kv", n_kv), ("rope.dimension_count", hidden // n_head),
                       ("vocab_size", vocab)]:
        put(f"llama.{key}", U32, struct.pack("<I", value))
    put("llama.rope.freq_base", F32, struct.pack("<f", cfg.get("rope_theta", 10000.0)))
    put("llama.attention.layer_norm_rms_epsilon", F32, struct.pack("<f", cfg.get("rms_norm_eps", 1e-6)))
    words = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    words += [f"tok{i}" for i in range(len(words), vocab)]
    types = [2, 3, 3] + [6] * 256 + [1] * (vocab - 259)
    put("tokenizer.ggml.model", STR, s("llama"))
    put("tokenizer.ggml.tokens", ARR, struct.pack("<IQ", STR, vocab) + b"".join(s(w) for w in words))
    put("tokenizer.ggml.scores", ARR, struct.pack("<IQ", F32, vocab) + struct.pack(f"<{vocab}f", *([0.0] * vocab)))
    put("tokenizer.ggml.token_type", ARR, struct.pack("<IQ", I32, vocab) + struct.pack(f"<{vocab}i", *types))
    put("tokenizer.ggml.bos_token_id", U32, struct.pack("<I", cfg.get("bos_token_id", 1)))
    put("tokenizer.ggml.eos_token_id", U32, struct.pack("<I", cfg.get("eos_token_id", 2)))
    put("tokenizer.ggml.unknown_token_id", U32, struct.pack("<I", 0))

    infos, offset = [], 0
    for name, shape, buf in tensors:
        dims = list(reversed(shape))
        infos.append(s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", 0, offset))
        offset += (len(buf) + 31) // 32 * 32
    with open(out, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)))
        for k in kv: f.write(k)
        for i in infos: f.write(i)
        f.write(b"\0" * ((32 - f.tell() % 32) % 32))
        for _, _, buf in tensors:
            f.write(buf)
            f.write(b"\0" * ((32 - len(buf) % 32) % 32))

if __name__ == "__main__":
    if len(sys.argv) != 3: sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
