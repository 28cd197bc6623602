# Independent reference for the Java FlowEncoder: CosyVoice2's token encoder (input_embedding,
# UpsampleConformerEncoder with ESPnet relative-position attention, encoder_proj) written from the spec
# (shared/CHECKPOINT-OMNI2.md, "Flow matching") with Debian PyTorch 1.13 operators. The relative-position
# term is taken with an explicit gather (score of query i against key j reads relative position i - j),
# not the pad-and-reshape rel_shift the Java port uses.
# Usage: flow_encoder.py FLOW_PT INPUTS.pt OUTPUTS.pt   (inputs: tokens, meta = [heads, lookahead, stride, chunk])
import math
import sys
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)
flow_path, inputs_path, outputs_path = sys.argv[1:4]
W = {k: v.float() for k, v in torch.load(flow_path, map_location='cpu').items()}
x = torch.load(inputs_path)['inputs']
heads, lookahead, stride, chunk = [int(v) for v in x['meta'].tolist()]
tokens = x['tokens'].long()
dim = W['encoder.embed.out.0.weight'].shape[0]
dk = dim // heads


def rel_positions(t):  # [2t-1, dim]: relative positions t-1 ... -(t-1)
    omega = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    r = torch.arange(t - 1, -t, -1, dtype=torch.float32)[:, None]
    pe = torch.zeros(2 * t - 1, dim)
    pe[:, 0::2] = torch.sin(r * omega)
    pe[:, 1::2] = torch.cos(r * omega)
    return pe


def chunk_mask(t, c):  # True where query i may see key j
    if c <= 0:
        return torch.ones(t, t, dtype=torch.bool)
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    return j < torch.clamp((i // c + 1) * c, max=t)


def embed(p, h):
    h = F.layer_norm(F.linear(h, W[p + '.out.0.weight'], W[p + '.out.0.bias']), (dim,), W[p + '.out.1.weight'],
                     W[p + '.out.1.bias'], eps=1e-5)
    return h * math.sqrt(dim)


def layer(p, h, pe, allowed):
    t = h.shape[0]
    a = p + '.self_attn.'
    y = F.layer_norm(h, (dim,), W[p + '.norm_mha.weight'], W[p + '.norm_mha.bias'], eps=1e-12)
    q = F.linear(y, W[a + 'linear_q.weight'], W[a + 'linear_q.bias']).view(t, heads, dk).transpose(0, 1)
    k = F.linear(y, W[a + 'linear_k.weight'], W[a + 'linear_k.bias']).view(t, heads, dk).transpose(0, 1)
    v = F.linear(y, W[a + 'linear_v.weight'], W[a + 'linear_v.bias']).view(t, heads, dk).transpose(0, 1)
    pos = F.linear(pe, W[a + 'linear_pos.weight']).view(2 * t - 1, heads, dk).transpose(0, 1)
    ac = (q + W[a + 'pos_bias_u'][:, None]) @ k.transpose(1, 2)
    bd_all = (q + W[a + 'pos_bias_v'][:, None]) @ pos.transpose(1, 2)  # [H, t, 2t-1]
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    index = (t - 1 - (i - j)).expand(heads, t, t)  # row of relative position i - j
    bd = torch.gather(bd_all, 2, index)
    scores = (ac + bd) / math.sqrt(dk)
    scores = scores.masked_fill(~allowed, float('-inf'))
    attn = torch.softmax(scores, dim=-1).masked_fill(~allowed, 0.0)
    o = (attn @ v).transpose(0, 1).reshape(t, dim)
    h = h + F.linear(o, W[a + 'linear_out.weight'], W[a + 'linear_out.bias'])
    y = F.layer_norm(h, (dim,), W[p + '.norm_ff.weight'], W[p + '.norm_ff.bias'], eps=1e-12)
    y = F.linear(F.silu(F.linear(y, W[p + '.feed_forward.w_1.weight'], W[p + '.feed_forward.w_1.bias'])),
                 W[p + '.feed_forward.w_2.weight'], W[p + '.feed_forward.w_2.bias'])
    return h + y


def count(prefix):
    return len({k.split('.')[2] for k in W if k.startswith(prefix)})


h = embed('encoder.embed', F.embedding(tokens, W['input_embedding.weight']))
# pre-lookahead: right-pad, conv, leaky relu, left-pad 2, conv k3, residual
c = h.T[None]
c = F.leaky_relu(F.conv1d(F.pad(c, (0, lookahead)), W['encoder.pre_lookahead_layer.conv1.weight'],
                          W['encoder.pre_lookahead_layer.conv1.bias']))
c = F.conv1d(F.pad(c, (2, 0)), W['encoder.pre_lookahead_layer.conv2.weight'], W['encoder.pre_lookahead_layer.conv2.bias'])
h = c[0].T + h
n = h.shape[0]
for i in range(count('encoder.encoders.')):
    h = layer('encoder.encoders.%d' % i, h, rel_positions(n), chunk_mask(n, chunk))
out = {'encoder_out': h.clone()}
# up layer: nearest x stride, left-pad 2*stride, conv
c = F.interpolate(h.T[None], scale_factor=float(stride), mode='nearest')
c = F.conv1d(F.pad(c, (2 * stride, 0)), W['encoder.up_layer.conv.weight'], W['encoder.up_layer.conv.bias'])
h = embed('encoder.up_embed', c[0].T)
frames = h.shape[0]
for i in range(count('encoder.up_encoders.')):
    h = layer('encoder.up_encoders.%d' % i, h, rel_positions(frames), chunk_mask(frames, chunk * stride))
h = F.layer_norm(h, (dim,), W['encoder.after_norm.weight'], W['encoder.after_norm.bias'], eps=1e-5)
out['mu'] = F.linear(h, W['encoder_proj.weight'], W['encoder_proj.bias']).T
out['positions'] = rel_positions(int(x['pe_len'].item()))

torch.save({'out': {k: v.contiguous().float() for k, v in out.items()}}, outputs_path)
print('ok')
