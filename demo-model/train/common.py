"""Shared pieces of the demo-model trainer (brain side): paths, intents, the Whisper log-mel exactly as the
Java LogMelFrontend computes it (natural length), the PyTorch modules whose names and numerics mirror the
Java blocks, and a small safetensors writer (the python safetensors package is not installed here)."""
import json
import math
import os
import random
import re
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # demo-model/
WORK = os.environ.get("DEMO_WORK", os.path.join(ROOT, "work"))
CHECKPOINT = os.environ.get("DEMO_CHECKPOINT", os.path.join(ROOT, "checkpoint"))
SEED = int(os.environ.get("DEMO_SEED", "12"))
SMOKE = os.environ.get("DEMO_SMOKE", "0") == "1"

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 128
SAMPLES_PER_ROW = 10 * HOP  # 10 mel frames -> 5 encoder frames -> 1 adaptor row
MAX_SAMPLES = 30 * SAMPLE_RATE


def setup(threads=int(os.environ.get("DEMO_THREADS", "1"))):
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # denormals made the CPU ops crawl
    random.seed(SEED)
    torch.manual_seed(SEED)
    os.makedirs(WORK, exist_ok=True)
    if gelu_backward_is_broken():
        log("setup", "this torch's F.gelu backward is wrong for non-contiguous gradients; the trainer uses common.gelu")
    check_gelu()


def intents():
    with open(os.path.join(ROOT, "intents.json")) as f:
        return json.load(f)


def words(text):
    """lower-case words of a sentence, punctuation dropped (how sentences are compared and scored)."""
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def jaccard(a, b):
    """word-Jaccard similarity of two sentences (the test for a training sentence too close to a held-out one)."""
    x, y = set(words(a)), set(words(b))
    return len(x & y) / max(1, len(x | y))


HELD_OUT_JACCARD = 0.6  # a generated training question at least this close to a held-out question is dropped


def expand_template(pattern, slots, rnd):
    """one random sentence from a pattern: {slot} takes a random value of the shared slot list, (a|b|) a random
    alternative (innermost groups first, so groups nest); spacing and punctuation tidied, first letter upper-case."""
    text = re.sub(r"\{(\w+)\}", lambda m: rnd.choice(slots[m.group(1)]), pattern)
    group = re.compile(r"\(([^()]*)\)")
    while group.search(text):
        text = group.sub(lambda m: rnd.choice(m.group(1).split("|")), text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.?!])", r"\1", text)
    text = re.sub(r",\s*,", ",", text)
    return text[:1].upper() + text[1:]


def opens_with_context_clause(text, openings):
    """the utterance opens with one of intents.json's context_clause_openings (lower case), itself or after a one-word
    opener ('hi, ', 'yes, ')."""
    t = text.lower()
    rest = re.sub(r"^\w+, ", "", t)
    return any(t.startswith(o) or rest.startswith(o) for o in openings)


def template_questions(spec, per_intent, seed):
    """Generated training questions per intent (intents.json "templates"): up to per_intent distinct sentences
    per intent, none of them a training question already nor within HELD_OUT_JACCARD of any held-out (test or dev)
    question of any intent. Returns {intent name: [sentences]} (deterministic for a seed)."""
    tpl = spec.get("templates")
    if not tpl:
        return {}
    held = [q for it in spec["intents"] for q in it["test"] + it.get("dev", [])]
    rnd = random.Random(seed)
    out = {}
    for it in spec["intents"]:
        patterns = tpl["intents"].get(it["name"], [])
        seen = {" ".join(words(q)) for q in it["train"]}
        got = []
        for _ in range(60 * per_intent if patterns else 0):
            if len(got) >= per_intent:
                break
            s = expand_template(rnd.choice(patterns), tpl["slots"], rnd)
            key = " ".join(words(s))
            if key in seen or any(jaccard(s, h) >= HELD_OUT_JACCARD for h in held):
                continue
            seen.add(key)
            got.append(s)
        out[it["name"]] = got
    return out


def check_dev_questions(spec):
    """the dev questions (intents.json "dev") are new wordings: none within HELD_OUT_JACCARD of a training question or
    a held-out test question of any intent, else tuning on them would be tuning on the training or the test set."""
    others = [q for it in spec["intents"] for q in it["train"] + it["test"]]
    for it in spec["intents"]:
        for q in it.get("dev", []):
            close = [o for o in others if jaccard(q, o) >= HELD_OUT_JACCARD]
            if close:
                raise SystemExit(f"dev question {q!r} ({it['name']}) is within word-Jaccard {HELD_OUT_JACCARD} of {close[0]!r}")


def ctc_collapse(labels, blank):
    """a CTC label path (one label per frame) -> its labels: repeats merged, blanks dropped (greedy decoding when
    the path is each frame's best label)."""
    out, prev = [], None
    for x in labels:
        if x != prev and x != blank:
            out.append(x)
        prev = x
    return out


def edit_distance(a, b):
    """Levenshtein distance between two sequences (words, tokens, units)."""
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(b)]


def log(stage, msg):
    print(f"[{time.strftime('%H:%M:%S')}] {stage}: {msg}", flush=True)


# ---------------------------------------------------------------- log-mel (== Java LogMelFrontend, paddedSeconds 0)

_MEL = None


def mel_filters():
    global _MEL
    if _MEL is None:
        import torchaudio
        # librosa.filters.mel(sr=16000, n_fft=400, n_mels=128): Slaney scale and Slaney area norm
        _MEL = torchaudio.functional.melscale_fbanks(N_FFT // 2 + 1, 0.0, SAMPLE_RATE / 2, N_MELS, SAMPLE_RATE,
                                                     norm="slaney", mel_scale="slaney")  # [201, 128]
    return _MEL


def padded_length(samples):
    rows = max(1, (samples + SAMPLES_PER_ROW - 1) // SAMPLES_PER_ROW)
    return min(MAX_SAMPLES, rows * SAMPLES_PER_ROW)


def log_mel(audio):
    """audio: float tensor in [-1, 1] at 16 kHz -> [128, frames], frames = padded length / 160."""
    length = padded_length(audio.numel())
    x = torch.zeros(length)
    n = min(length, audio.numel())
    x[:n] = audio[:n]
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, pad_mode="reflect",
                      return_complex=True)
    power = spec[:, :-1].abs() ** 2  # [201, frames]
    mel = mel_filters().T @ power
    lg = torch.clamp(mel, min=1e-10).log10()
    lg = torch.maximum(lg, lg.max() - 8.0)
    return (lg + 4.0) / 4.0


def read_wav16k(path):
    import wave
    import numpy as np
    with wave.open(path, "rb") as w:
        assert w.getframerate() == SAMPLE_RATE and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return torch.from_numpy(pcm.astype("float32") / 32768.0)


# ---------------------------------------------------------------- Whisper encoder / decoder (openai names)

class _Matmul(torch.autograd.Function):
    """a @ b with contiguous operands in forward and backward: Debian's generic-BLAS torch runs batched matmuls
    on transposed (strided) views ~30x slower, and autograd's own bmm backward feeds it such views."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = a.contiguous(), b.contiguous()
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        g = g.contiguous()
        return g @ b.transpose(-1, -2).contiguous(), a.transpose(-1, -2).contiguous() @ g


def matmul(a, b):
    return _Matmul.apply(a, b)


class _Gelu(torch.autograd.Function):
    """exact (erf) GELU whose backward always gets a contiguous gradient. Debian's torch 1.13 computes F.gelu's
    backward wrong when the incoming gradient is not contiguous (zeros or garbage: it read uninitialised memory
    here, gradient norms of 1e16 and inf), which is what the encoder's conv stack gets after `.permute`: with
    F.gelu the convolutions never learned and the encoder could not tell the intents apart. ATen's own forward
    and backward kernels on contiguous operands are right and ~8x faster than the same GELU from elementwise ops
    (erf, mul, exp: ~45 % of a training step before session 9)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.gelu(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return torch.ops.aten.gelu_backward(g.contiguous(), x)


def gelu(x):
    """exact GELU (erf form, the same values as F.gelu and the runtime's) with a correct backward on this torch."""
    return _Gelu.apply(x)


def gelu_reference(x):
    """the same GELU from elementwise ops: the slow, obvious reference that gelu_backward_is_broken() and the
    smoke check compare against."""
    return 0.5 * x * (1.0 + torch.erf(x * 0.7071067811865476))


class GELU(nn.Module):
    def forward(self, x):
        return gelu(x)


def gelu_backward_is_broken():
    """True when this torch has the non-contiguous-gradient GELU bug (logged by setup())."""
    x = torch.linspace(-2, 2, 24).reshape(2, 3, 4).requires_grad_()
    g = torch.ones(2, 4, 3)
    F.gelu(x).permute(0, 2, 1).backward(g)
    ref = torch.autograd.grad(gelu_reference(x), x, g.permute(0, 2, 1).contiguous())[0]
    return not torch.allclose(x.grad, ref, atol=1e-5)


def check_gelu():
    """the trainer's gelu against the elementwise reference, values and a permuted (non-contiguous) gradient."""
    x = torch.linspace(-4, 4, 60).reshape(3, 4, 5).requires_grad_()
    g = torch.linspace(-1, 1, 60).reshape(3, 5, 4)
    gelu(x).permute(0, 2, 1).backward(g)
    xr = x.detach().clone().requires_grad_()
    gelu_reference(xr).permute(0, 2, 1).backward(g)
    assert torch.allclose(gelu(x), gelu_reference(x), atol=1e-6), "gelu values differ from the reference"
    assert torch.allclose(x.grad, xr.grad, atol=1e-5), "gelu backward differs from the reference"


def sinusoids(length, channels, max_timescale=10000):
    inc = math.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-inc * torch.arange(channels // 2, dtype=torch.float64))
    t = torch.arange(length, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1).float()


class MultiHeadAttention(nn.Module):
    """openai/whisper attention: key without bias, q and k each scaled by d_head^-0.25."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d, bias=False)
        self.value = nn.Linear(d, d)
        self.out = nn.Linear(d, d)

    def forward(self, x, xa=None, key_mask=None, causal=False):
        src = x if xa is None else xa
        b, t, d = x.shape
        s = src.shape[1]
        h = self.heads
        scale = (d // h) ** -0.25
        # contiguous operands: Debian's generic-BLAS torch runs strided batched matmuls ~30x slower
        q = (self.query(x).view(b, t, h, -1).transpose(1, 2) * scale).contiguous()
        k = (self.key(src).view(b, s, h, -1).permute(0, 2, 3, 1) * scale).contiguous()  # [b, h, dh, s]
        v = self.value(src).view(b, s, h, -1).transpose(1, 2).contiguous()
        w = matmul(q, k)  # [b, h, t, s]
        if causal:
            w = w.masked_fill(torch.ones(t, s, dtype=torch.bool).triu(1), float("-inf"))
        if key_mask is not None:  # [b, s] True = valid
            w = w.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        a = torch.softmax(w.float(), dim=-1).to(q.dtype)
        return self.out(matmul(a, v).transpose(1, 2).reshape(b, t, d))


# residual dropout in the Whisper blocks while training (DEMO_ASR_DROPOUT, default 0: off); eval mode and the
# exported files are unaffected
BLOCK_DROPOUT = float(os.environ.get("DEMO_ASR_DROPOUT", "0"))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d, heads, cross=False):
        super().__init__()
        self.attn = MultiHeadAttention(d, heads)
        self.attn_ln = nn.LayerNorm(d)
        self.cross_attn = MultiHeadAttention(d, heads) if cross else None
        self.cross_attn_ln = nn.LayerNorm(d) if cross else None
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), GELU(), nn.Linear(4 * d, d))
        self.mlp_ln = nn.LayerNorm(d)

    def forward(self, x, xa=None, mask=None, xa_mask=None, causal=False):
        p = BLOCK_DROPOUT if self.training else 0.0
        x = x + F.dropout(self.attn(self.attn_ln(x), key_mask=mask, causal=causal), p, self.training)
        if self.cross_attn is not None:
            x = x + F.dropout(self.cross_attn(self.cross_attn_ln(x), xa, key_mask=xa_mask), p, self.training)
        return x + F.dropout(self.mlp(self.mlp_ln(x)), p, self.training)


class AudioEncoder(nn.Module):
    def __init__(self, n_mels, d, heads, layers, n_ctx=1500):
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(n_ctx, d))
        self.blocks = nn.ModuleList([ResidualAttentionBlock(d, heads) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(d)

    def forward(self, mel, mel_lens=None):
        """mel [B, n_mels, F] (F even); mel_lens: valid frames per item (multiples of 10) -> ([B, F/2, d], mask)."""
        x = gelu(self.conv1(mel))
        mask = None
        if mel_lens is not None:
            valid = torch.arange(mel.shape[2])[None, :] < mel_lens[:, None]
            x = x * valid[:, None, :]  # what conv2 sees past the end is zero padding, as for one utterance
        x = gelu(self.conv2(x)).permute(0, 2, 1).contiguous()
        t = x.shape[1]
        x = x + self.positional_embedding[:t]
        if mel_lens is not None:
            mask = torch.arange(t)[None, :] < (mel_lens[:, None] // 2)
        for b in self.blocks:
            x = b(x, mask=mask)
        return self.ln_post(x), mask


class TextDecoder(nn.Module):
    def __init__(self, n_vocab, n_ctx, d, heads, layers):
        super().__init__()
        self.token_embedding = nn.Embedding(n_vocab, d)
        self.positional_embedding = nn.Parameter(torch.randn(n_ctx, d) * 0.01)
        self.blocks = nn.ModuleList([ResidualAttentionBlock(d, heads, cross=True) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    def forward(self, tokens, xa, xa_mask=None):
        t = tokens.shape[1]
        x = self.token_embedding(tokens) + self.positional_embedding[:t]
        for b in self.blocks:
            x = b(x, xa=xa, xa_mask=xa_mask, causal=True)
        x = self.ln(x)
        return x @ self.token_embedding.weight.T


class Whisper(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.dims = dims
        self.encoder = AudioEncoder(dims["n_mels"], dims["n_audio_state"], dims["n_audio_head"],
                                    dims["n_audio_layer"], dims["n_audio_ctx"])
        self.decoder = TextDecoder(dims["n_vocab"], dims["n_text_ctx"], dims["n_text_state"], dims["n_text_head"],
                                   dims["n_text_layer"])


# ---------------------------------------------------------------- adaptor, Llama, CTC decoder (HF names)

class SpeechProjector(nn.Module):
    def __init__(self, k, enc_dim, hidden, llm_dim):
        super().__init__()
        self.k = k
        self.linear1 = nn.Linear(k * enc_dim, hidden)
        self.linear2 = nn.Linear(hidden, llm_dim)

    def forward(self, h):
        """h [T, enc_dim] -> [T // k, llm_dim] (T mod k frames dropped, k frames per row, frame-major)."""
        rows = h.shape[0] // self.k
        x = h[: rows * self.k].reshape(rows, -1)
        return self.linear2(F.relu(self.linear1(x)))


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def rope_tables(head_dim, positions, theta):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    ang = positions.double()[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().float(), ang.sin().float()


def apply_rope(x, cos, sin):
    half = x.shape[-1] // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rot * sin


class LlamaAttention(nn.Module):
    def __init__(self, d, heads, kv_heads):
        super().__init__()
        self.heads, self.kv, self.hd = heads, kv_heads, d // heads
        self.q_proj = nn.Linear(d, heads * self.hd, bias=False)
        self.k_proj = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.v_proj = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.o_proj = nn.Linear(heads * self.hd, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = self.heads // self.kv
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        q, v = q.contiguous(), v.contiguous()
        w = matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd)
        w = w.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        a = matmul(torch.softmax(w.float(), -1).to(q.dtype), v)
        return self.o_proj(a.transpose(1, 2).reshape(b, t, -1))


class LlamaMLP(nn.Module):
    def __init__(self, d, ffn):
        super().__init__()
        self.gate_proj = nn.Linear(d, ffn, bias=False)
        self.up_proj = nn.Linear(d, ffn, bias=False)
        self.down_proj = nn.Linear(ffn, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self, d, heads, kv_heads, ffn, eps=1e-5):
        super().__init__()
        self.self_attn = LlamaAttention(d, heads, kv_heads)
        self.mlp = LlamaMLP(d, ffn)
        self.input_layernorm = RMSNorm(d, eps)
        self.post_attention_layernorm = RMSNorm(d, eps)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaBody(nn.Module):
    """`model.` of LlamaForCausalLM (embed_tokens, layers, norm) plus the speech projector."""

    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.embed_tokens = nn.Embedding(c["vocab_size"], d)
        self.layers = nn.ModuleList([LlamaLayer(d, c["num_attention_heads"], c["num_key_value_heads"],
                                                c["intermediate_size"], c["rms_norm_eps"])
                                     for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(d, c["rms_norm_eps"])
        self.speech_projector = SpeechProjector(c["speech_encoder_ds_rate"], c["speech_encoder_hidden_size"],
                                                c["speech_projector_hidden_size"], d)
        nn.init.normal_(self.embed_tokens.weight, std=0.02)


class OmniLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = LlamaBody(c)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def hidden(self, emb):
        """emb [B, T, d] (right padded; causal, so padding never reaches real positions) -> final-normed states."""
        t = emb.shape[1]
        hd = self.c["hidden_size"] // self.c["num_attention_heads"]
        cos, sin = rope_tables(hd, torch.arange(t), self.c["rope_theta"])
        x = emb
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        return self.model.norm(x)


class SpeechGenerator(nn.Module):
    """`speech_generator.`: input_proj, causal Llama layers (RoPE of the LLM's theta), output_proj; no final norm."""

    def __init__(self, c):
        super().__init__()
        layers, dim, heads, ffn = [int(v) for v in c["ctc_decoder_config"].strip("()").split(",")]
        self.c, self.dim, self.heads = c, dim, heads
        self.up = c["ctc_upsample_factor"]
        self.input_proj = nn.Linear(c["hidden_size"], dim)
        self.layers = nn.ModuleList([LlamaLayer(dim, heads, heads, ffn, c["rms_norm_eps"]) for _ in range(layers)])
        self.output_proj = nn.Linear(dim, c["unit_vocab_size"] + 1)

    def forward(self, states):
        """states [B, N, llm_dim] -> logits [B, N*λ, units+1] (frame t reads state t // λ)."""
        x = self.input_proj(states).repeat_interleave(self.up, dim=1)
        t = x.shape[1]
        cos, sin = rope_tables(self.dim // self.heads, torch.arange(t), self.c["rope_theta"])
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.output_proj(x)


# ---------------------------------------------------------------- safetensors writer

_DT = {torch.float16: "F16", torch.float32: "F32", torch.int64: "I64", torch.bfloat16: "BF16"}


def save_safetensors(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": _DT[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return offset


def load_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    np_dt = {"F16": np.float16, "F32": np.float32, "I64": np.int64}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=np_dt[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def count(module):
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- data parallel on the CPU (one stage on both cores)

class Ranks:
    """One of `size` training processes that take the same batches and each compute a share of their rows
    (`share`), then sum their gradients (`sum_grads`), so every process makes the same update as one process on the
    whole batch would (up to the order of float sums). size 1: no peers, nothing is exchanged."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size
        self.main = rank == 0

    def share(self, rows):
        return rows[self.rank::self.size]

    def sum_grads(self, params, extras=()):
        """the gradients of params (None counts as zeros) summed over the ranks, in place; extras (floats, e.g. the
        ranks' parts of the losses for the log) summed alongside and returned."""
        if self.size == 1:
            return list(extras)
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
                         + [torch.tensor([float(e) for e in extras], dtype=torch.float32)])
        torch.distributed.all_reduce(flat)
        k = 0
        for p in params:
            n = p.numel()
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            p.grad.copy_(flat[k:k + n].view_as(p))
            k += n
        return flat[k:].tolist()

    def check_same(self, params):
        """raises unless every rank holds the same parameters (they must: same start, same summed gradients)."""
        if self.size == 1:
            return
        s = torch.tensor([float(sum(p.detach().double().sum() for p in params))], dtype=torch.float64)
        lo, hi = s.clone(), s.clone()
        torch.distributed.all_reduce(lo, op=torch.distributed.ReduceOp.MIN)
        torch.distributed.all_reduce(hi, op=torch.distributed.ReduceOp.MAX)
        if lo.item() != hi.item():
            raise RuntimeError(f"the training processes drifted apart: parameter sums {lo.item()} .. {hi.item()}")


def _rank_main(rank, size, init_file, fn, args):
    torch.set_num_threads(int(os.environ.get("DEMO_THREADS", "1")))
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=size)
    try:
        fn(Ranks(rank, size), *args)
    finally:
        torch.distributed.destroy_process_group()


def run_ranks(procs, fn, *args):
    """fn(ranks, *args) in `procs` processes forked from this one, so they share what it has loaded (copy on write:
    the features are read once), joined by gloo through a file in WORK; procs 1 runs fn here, with no process group.
    Returns when every process has finished; raises if any failed."""
    if procs <= 1:
        fn(Ranks(0, 1), *args)
        return
    import torch.multiprocessing as mp
    init_file = os.path.join(WORK, f"ranks.{os.getpid()}")
    if os.path.exists(init_file):
        os.remove(init_file)
    try:
        mp.start_processes(_rank_main, args=(procs, init_file, fn, args), nprocs=procs, join=True,
                           start_method="fork")
    finally:
        if os.path.exists(init_file):
            os.remove(init_file)
