#!/usr/bin/python3
"""Independent float64 reference forward for the seven decoder families, written from Hugging Face transformers'
modeling code (modeling_llama.py, modeling_mistral.py, modeling_qwen2.py, modeling_qwen3.py, modeling_gemma.py,
modeling_gemma2.py, modeling_phi3.py; eager attention path) -- not from MoeDsl's C#.

usage: /usr/bin/python3 reference.py CHECKPOINT_DIR OUT.json
Reads config.json + model.safetensors (parsed here with numpy), runs the prompt below, writes its logits (every
position) and 32 greedy ids (each step a full recomputation, no cache). Runs in float64, so its own rounding (~1e-15)
is far below the 1e-4 the C# fp32 forward is held to. Needs python3-torch (Debian's 1.13) and python3-numpy only.
"""
import hashlib, json, math, os, struct, sys

import numpy as np
import torch

PROMPT = [1, 17, 42, 99, 3, 250, 128, 64]
NEW_TOKENS = 32
DT = torch.float64


def load_safetensors(path):
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        if e["dtype"] == "BF16":
            raw = np.frombuffer(data[a:b], dtype=np.uint16).astype(np.uint32) << 16
            arr = raw.view(np.float32)
        else:
            arr = np.frombuffer(data[a:b], dtype=dtypes[e["dtype"]])
        out[name] = torch.from_numpy(arr.astype(np.float64).reshape(e["shape"]))
    return out


class Family:
    """What HF's per-family modeling files do differently (read from those files)."""

    def __init__(self, cfg):
        t = cfg["model_type"]
        self.type = t
        self.hidden = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.kv = cfg.get("num_key_value_heads") or self.heads
        default_head_dim = {"gemma": 256, "gemma2": 256, "qwen3": 128}.get(t, self.hidden // self.heads)
        self.head_dim = cfg.get("head_dim") or default_head_dim
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        self.rope_scaling = cfg.get("rope_scaling")
        self.gemma_norm = t in ("gemma", "gemma2")               # GemmaRMSNorm: x_normed * (1 + w)
        self.embed_scale = math.sqrt(self.hidden) if t in ("gemma", "gemma2") else None
        act = cfg.get("hidden_activation") or cfg.get("hidden_act", "silu")
        self.act = act
        self.qk_norm = t == "qwen3"                               # Qwen3Attention.q_norm/k_norm on head_dim
        self.sandwich = t == "gemma2"                             # pre/post_feedforward_layernorm
        self.attn_softcap = cfg.get("attn_logit_softcapping") if t == "gemma2" else None
        self.final_softcap = cfg.get("final_logit_softcapping") if t == "gemma2" else None
        self.scaling = (cfg["query_pre_attn_scalar"] ** -0.5) if t == "gemma2" else self.head_dim ** -0.5
        self.fused = t == "phi3"                                  # Phi3Attention.qkv_proj, Phi3MLP.gate_up_proj
        self.tied = cfg.get("tie_word_embeddings", t in ("gemma", "gemma2"))
        w = cfg.get("sliding_window")
        if t == "gemma2":
            self.window = [w if i % 2 == 0 else None for i in range(self.layers)]  # not bool(layer_idx % 2)
        elif t in ("qwen2", "qwen3"):
            use = cfg.get("use_sliding_window", False)
            mwl = cfg.get("max_window_layers", self.layers)
            self.window = [w if (use and w is not None and i >= mwl) else None for i in range(self.layers)]
        elif t in ("mistral", "phi3"):
            self.window = [w] * self.layers
        else:
            self.window = [None] * self.layers

    def act_fn(self, x):
        if self.act in ("silu", "swish"):
            return torch.nn.functional.silu(x)
        if self.act == "gelu_pytorch_tanh" or (self.gemma_norm and self.act == "gelu"):
            return torch.nn.functional.gelu(x, approximate="tanh")
        if self.act == "gelu":
            return torch.nn.functional.gelu(x)
        raise ValueError(self.act)

    def inv_freq(self):
        d = self.head_dim
        inv = 1.0 / (self.theta ** (torch.arange(0, d, 2, dtype=DT) / d))
        s = self.rope_scaling
        if s is None or s.get("rope_type", s.get("type")) == "default":
            return inv
        kind = s.get("rope_type", s.get("type"))
        if kind == "linear":                                     # _compute_linear_scaling_rope_parameters
            return inv / s["factor"]
        if kind == "llama3":                                     # _compute_llama3_parameters
            factor, low, high = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
            old = s["original_max_position_embeddings"]
            low_wl, high_wl = old / low, old / high
            wavelen = 2 * math.pi / inv
            inv_l = torch.where(wavelen > low_wl, inv / factor, inv)
            smooth = (old / wavelen - low) / (high - low)
            smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
            medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
            return torch.where(medium, smoothed, inv_l)
        raise ValueError(kind)


def rms_norm(x, w, fam, eps=None):
    eps = fam.eps if eps is None else eps
    normed = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return normed * (1.0 + w) if fam.gemma_norm else w * normed


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(W, fam, ids):
    L = len(ids)
    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    if fam.embed_scale is not None:
        x = x * fam.embed_scale
    pos = torch.arange(L, dtype=DT)
    freqs = torch.outer(pos, fam.inv_freq())
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    H, KV, D = fam.heads, fam.kv, fam.head_dim
    i = torch.arange(L).unsqueeze(1)
    j = torch.arange(L).unsqueeze(0)

    def lin(name, v):
        y = v @ W[name + ".weight"].T
        b = W.get(name + ".bias")
        return y + b if b is not None else y

    for layer in range(fam.layers):
        p = f"model.layers.{layer}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], fam)
        if fam.fused:
            qkv = lin(p + "self_attn.qkv_proj", h)
            q, k, v = qkv[:, :H * D], qkv[:, H * D:H * D + KV * D], qkv[:, H * D + KV * D:]
        else:
            q, k, v = lin(p + "self_attn.q_proj", h), lin(p + "self_attn.k_proj", h), lin(p + "self_attn.v_proj", h)
        q, k, v = q.view(L, H, D), k.view(L, KV, D), v.view(L, KV, D)
        if fam.qk_norm:
            q = rms_norm(q, W[p + "self_attn.q_norm.weight"], fam)
            k = rms_norm(k, W[p + "self_attn.k_norm.weight"], fam)
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)  # [heads, L, D]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=0)
        v = v.repeat_interleave(H // KV, dim=0)
        scores = q @ k.transpose(1, 2) * fam.scaling
        if fam.attn_softcap is not None:
            scores = torch.tanh(scores / fam.attn_softcap) * fam.attn_softcap
        allowed = j <= i
        w = fam.window[layer]
        if w is not None:
            allowed = allowed & (j > i - w)                      # masking_utils.sliding_window_overlay
        scores = scores.masked_fill(~allowed, float("-inf"))
        attn = torch.softmax(scores, dim=-1) @ v                  # [heads, L, D]
        attn = attn.transpose(0, 1).reshape(L, H * D)
        o = lin(p + "self_attn.o_proj", attn)
        if fam.sandwich:
            o = rms_norm(o, W[p + "post_attention_layernorm.weight"], fam)
            x = x + o
            h = rms_norm(x, W[p + "pre_feedforward_layernorm.weight"], fam)
        else:
            x = x + o
            h = rms_norm(x, W[p + "post_attention_layernorm.weight"], fam)
        if fam.fused:
            gate, up = lin(p + "mlp.gate_up_proj", h).chunk(2, dim=-1)
            m = lin(p + "mlp.down_proj", up * fam.act_fn(gate))
        else:
            m = lin(p + "mlp.down_proj", fam.act_fn(lin(p + "mlp.gate_proj", h)) * lin(p + "mlp.up_proj", h))
        if fam.sandwich:
            m = rms_norm(m, W[p + "post_feedforward_layernorm.weight"], fam)
        x = x + m
    x = rms_norm(x, W["model.norm.weight"], fam)
    head = W["model.embed_tokens.weight"] if fam.tied or "lm_head.weight" not in W else W["lm_head.weight"]
    logits = x @ head.T
    if fam.final_softcap is not None:
        logits = torch.tanh(logits / fam.final_softcap) * fam.final_softcap
    return logits


def main():
    ckpt, out = sys.argv[1], sys.argv[2]
    cfg = json.load(open(os.path.join(ckpt, "config.json")))
    st = os.path.join(ckpt, "model.safetensors")
    W = load_safetensors(st)
    fam = Family(cfg)
    logits = forward(W, fam, PROMPT)
    ids = list(PROMPT)
    margins = []
    for _ in range(NEW_TOKENS):
        last = forward(W, fam, ids)[-1]
        top = torch.topk(last, 2)
        margins.append(float(top.values[0] - top.values[1]))
        ids.append(int(top.indices[0]))
    result = {
        "family": cfg["model_type"],
        "oracle": "PyTorch %s float64, reference.py (eager attention as HF's modeling code)" % torch.__version__,
        "checkpoint_sha256": hashlib.sha256(open(st, "rb").read()).hexdigest(),
        "prompt": PROMPT,
        "logits": [[float(v) for v in row] for row in logits],
        "greedy": ids[len(PROMPT):],
        "min_greedy_margin": min(margins),
    }
    with open(out, "w") as f:
        json.dump(result, f)
    print(cfg["model_type"], "greedy", result["greedy"], "distinct", len(set(result["greedy"])), "min margin %.4g" % min(margins))


if __name__ == "__main__":
    main()
