# Independent reference for the Java FlowEstimator and FlowMatching: CosyVoice2's causal ConditionalDecoder
# (Matcha-TTS U-Net, one channel stage) and the Euler/CFG loop, written from the spec
# (shared/CHECKPOINT-OMNI2.md, "Flow matching") with Debian PyTorch 1.13 operators (F.conv1d on a padded
# input, F.layer_norm, F.mish, F.gelu, softmax attention with a -1e10 bias, torch.linspace/cos).
# Usage: flow_decoder.py FLOW_PT INPUTS.pt OUTPUTS.pt
#   inputs: est_x [2, C_in, T] + est_t [1] (one estimator call), mu [80, T], spk_xvector [D], noise [80, T],
#   meta = [heads, head_dim, chunk_frames, steps, cfg_rate]
import math
import sys
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)
flow_path, inputs_path, outputs_path = sys.argv[1:4]
W = {k: v.float() for k, v in torch.load(flow_path, map_location='cpu').items()}
x = torch.load(inputs_path)['inputs']
heads, head_dim, chunk, steps = [int(v) for v in x['meta'][:4].tolist()]
cfg_rate = round(float(x['meta'][4].item()), 6)  # 0.7 as the reference's Python float
E = 'decoder.estimator.'


def causal_conv(h, p):
    w = W[p + '.weight']
    return F.conv1d(F.pad(h, (w.shape[2] - 1, 0)), w, W[p + '.bias'])


def causal_block(p, h):
    h = causal_conv(h, p + '.block.0')
    h = F.layer_norm(h.transpose(1, 2), (h.shape[1],), W[p + '.block.2.weight'], W[p + '.block.2.bias']).transpose(1, 2)
    return F.mish(h)


def resnet(p, h, temb):
    y = causal_block(p + '.block1', h)
    y = y + F.linear(F.mish(temb), W[p + '.mlp.1.weight'], W[p + '.mlp.1.bias'])[:, :, None]
    y = causal_block(p + '.block2', y)
    return y + F.conv1d(h, W[p + '.res_conv.weight'], W[p + '.res_conv.bias'])


def transformer(p, h, bias):  # h [B, T, C]
    b, t, c = h.shape
    y = F.layer_norm(h, (c,), W[p + '.norm1.weight'], W[p + '.norm1.bias'])
    q = F.linear(y, W[p + '.attn1.to_q.weight']).view(b, t, heads, head_dim).transpose(1, 2)
    k = F.linear(y, W[p + '.attn1.to_k.weight']).view(b, t, heads, head_dim).transpose(1, 2)
    v = F.linear(y, W[p + '.attn1.to_v.weight']).view(b, t, heads, head_dim).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim) + bias
    o = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(b, t, heads * head_dim)
    h = h + F.linear(o, W[p + '.attn1.to_out.0.weight'], W[p + '.attn1.to_out.0.bias'])
    y = F.layer_norm(h, (c,), W[p + '.norm3.weight'], W[p + '.norm3.bias'])
    y = F.linear(F.gelu(F.linear(y, W[p + '.ff.net.0.proj.weight'], W[p + '.ff.net.0.proj.bias'])),
                 W[p + '.ff.net.2.weight'], W[p + '.ff.net.2.bias'])
    return h + y


def count(prefix):
    return len({k[len(prefix):].split('.')[0] for k in W if k.startswith(prefix)})


def stage(p, h, temb, bias, closing_conv):
    h = resnet(p + '.0', h, temb).transpose(1, 2)
    for j in range(count(p + '.1.')):
        h = transformer(p + '.1.%d' % j, h, bias)
    h = h.transpose(1, 2)
    return h, (causal_conv(h, p + '.2') if closing_conv else h)


def estimator(h, t):  # h [B, C_in, T], t scalar
    c_in = h.shape[1]
    half = c_in // 2
    omega = torch.exp(torch.arange(half).float() * -(math.log(10000) / (half - 1)))
    e = 1000 * torch.tensor([t]).float()[:, None] * omega[None]
    temb = torch.cat([e.sin(), e.cos()], dim=-1)
    temb = F.linear(F.silu(F.linear(temb, W[E + 'time_mlp.linear_1.weight'], W[E + 'time_mlp.linear_1.bias'])),
                    W[E + 'time_mlp.linear_2.weight'], W[E + 'time_mlp.linear_2.bias'])
    n = h.shape[2]
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    visible = j < torch.clamp((i // chunk + 1) * chunk, max=n) if chunk > 0 else torch.ones(n, n, dtype=torch.bool)
    bias = (1.0 - visible.float()) * -1.0e10
    skip, h = stage(E + 'down_blocks.0', h, temb, bias, True)
    for m in range(count(E + 'mid_blocks.')):
        _, h = stage(E + 'mid_blocks.%d' % m, h, temb, bias, False)
    _, h = stage(E + 'up_blocks.0', torch.cat([h, skip], dim=1), temb, bias, True)
    h = causal_block(E + 'final_block', h)
    return F.conv1d(h, W[E + 'final_proj.weight'], W[E + 'final_proj.bias'])


out = {'velocity': estimator(x['est_x'], float(x['est_t'].item()))}

# the Euler / CFG loop
mu = x['mu']
mel, frames = mu.shape
spk = F.linear(F.normalize(x['spk_xvector'][None], dim=1), W['spk_embed_affine_layer.weight'],
               W['spk_embed_affine_layer.bias'])[0]
cond_row = torch.cat([mu, spk[:, None].expand(mel, frames), torch.zeros(mel, frames)], dim=0)
t_span = torch.linspace(0, 1, steps + 1)
t_span = 1 - torch.cos(t_span * 0.5 * math.pi)
z = x['noise'].clone()
t, dt = t_span[0], t_span[1] - t_span[0]
for step in range(1, steps + 1):
    batch = torch.stack([torch.cat([z, cond_row]), torch.cat([z, torch.zeros(3 * mel, frames)])])
    v = estimator(batch, float(t))
    v = (1.0 + cfg_rate) * v[0] - cfg_rate * v[1]
    z = z + dt * v
    t = t + dt
    if step < steps:
        dt = t_span[step + 1] - t
out['mel'] = z
out['t_span'] = t_span
out['spk'] = spk

torch.save({'out': {k: v.contiguous().float() for k, v in out.items()}}, outputs_path)
print('ok')
