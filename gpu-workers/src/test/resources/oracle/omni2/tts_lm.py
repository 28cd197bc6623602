# Independent reference for LLaMA-Omni2's gated fusion and TTS LM, written from the spec
# (shared/CHECKPOINT-OMNI2.md "Forward-pass facts": LLMSpeechGenerator.fusion; a plain Qwen2 over inputs_embeds)
# with Debian PyTorch 1.13 library operators in float64: F.linear, F.relu, torch.sigmoid, F.silu, softmax.
# Qwen2: RMSNorm (x * rsqrt(mean(x^2) + eps) * w), rotate-half RoPE with theta and no scaling, q/k/v with bias,
# o_proj without, grouped-query attention (K/V heads repeated), causal softmax(q k^T / sqrt(d)), SiLU-gated MLP,
# final norm, lm_head = embed_tokens when tied (or speech_generator.model.lm_head.weight when present and untied).
# Usage: tts_lm.py WEIGHTS.pt INPUTS.pt OUTPUTS.pt HEADS KV_HEADS THETA EPS SEP_ID TIED
#   INPUTS.pt: {'inputs': {'hidden': [n, H], 'tokens': [n] (ids as floats)}}
#   OUTPUTS.pt: {'out': {'fused': [n, D], 'hidden': [n+1, D] (final-normed), 'logits': [n+1, vocab]}}
import sys
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)
weights_path, inputs_path, outputs_path = sys.argv[1:4]
HEADS, KV_HEADS = int(sys.argv[4]), int(sys.argv[5])
THETA, EPS = float(sys.argv[6]), float(sys.argv[7])
SEP = int(sys.argv[8])
TIED = sys.argv[9] == 'true'

sd = {k: v.double() for k, v in torch.load(weights_path, map_location='cpu').items()}
x_in = torch.load(inputs_path)['inputs']
hidden = x_in['hidden'].double()
tokens = x_in['tokens'].long()
P = 'speech_generator.model.model.'
embed = sd[P + 'embed_tokens.weight']


def fusion(h, y):
    r = F.linear(F.relu(F.linear(h, sd['speech_generator.input_proj.0.weight'], sd['speech_generator.input_proj.0.bias'])),
                 sd['speech_generator.input_proj.2.weight'], sd['speech_generator.input_proj.2.bias'])
    e = embed[y]
    g = torch.sigmoid(F.linear(torch.cat([r, e], dim=-1), sd['speech_generator.gate.0.weight'],
                               sd['speech_generator.gate.0.bias']))
    return r * g + e * (1 - g)


def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def qwen2(x):  # inputs_embeds [T, D] at positions 0..T-1 -> final-normed [T, D], logits [T, vocab]
    t, d = x.shape
    hd = d // HEADS
    inv = 1.0 / (THETA ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.arange(t, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    mask = torch.full((t, t), float('-inf'), dtype=torch.float64).triu(1)
    layer = 0
    while P + 'layers.%d.input_layernorm.weight' % layer in sd:
        p = P + 'layers.%d.' % layer
        h = rms(x, sd[p + 'input_layernorm.weight'])
        q = F.linear(h, sd[p + 'self_attn.q_proj.weight'], sd[p + 'self_attn.q_proj.bias']).view(t, HEADS, hd).transpose(0, 1)
        k = F.linear(h, sd[p + 'self_attn.k_proj.weight'], sd[p + 'self_attn.k_proj.bias']).view(t, KV_HEADS, hd).transpose(0, 1)
        v = F.linear(h, sd[p + 'self_attn.v_proj.weight'], sd[p + 'self_attn.v_proj.bias']).view(t, KV_HEADS, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(HEADS // KV_HEADS, dim=0)
        v = v.repeat_interleave(HEADS // KV_HEADS, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / hd ** 0.5 + mask, dim=-1) @ v
        x = x + F.linear(att.transpose(0, 1).reshape(t, HEADS * hd), sd[p + 'self_attn.o_proj.weight'])
        h = rms(x, sd[p + 'post_attention_layernorm.weight'])
        x = x + F.linear(F.silu(F.linear(h, sd[p + 'mlp.gate_proj.weight'])) * F.linear(h, sd[p + 'mlp.up_proj.weight']),
                         sd[p + 'mlp.down_proj.weight'])
        layer += 1
    x = rms(x, sd[P + 'norm.weight'])
    head = embed if TIED else sd['speech_generator.model.lm_head.weight']
    return x, x @ head.T


fused = fusion(hidden, tokens)
context = torch.cat([fused, embed[torch.tensor([SEP])]], dim=0)
final, logits = qwen2(context)
out = {'fused': fused, 'hidden': final, 'logits': logits}
torch.save({'out': {k: v.contiguous().float() for k, v in out.items()}}, outputs_path)
print('ok')
