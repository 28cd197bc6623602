# Independent oracle for the Java blocks: Debian PyTorch 1.13 + torchaudio library operators on the tiny
# checkpoint's own weights. Usage: golden.py CHECKPOINT_DIR INPUTS.pt OUTPUTS.pt
import json, struct, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchaudio

ckpt, inputs_path, outputs_path = sys.argv[1:4]
torch.set_grad_enabled(False)

def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    types = {'F16': np.float16, 'F32': np.float32}
    out = {}
    for name, t in header.items():
        if name == '__metadata__':
            continue
        b, e = t['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=types[t['dtype']]).copy()
                                     .reshape(t['shape'])).float()
    return out

weight_map = json.load(open(ckpt + '/model.safetensors.index.json'))['weight_map']
W = {}
for shard in sorted(set(weight_map.values())):
    W.update(read_safetensors(ckpt + '/' + shard))
cfg = json.load(open(ckpt + '/config.json'))
x = torch.load(inputs_path)['inputs']
out = {}

# log-mel: torch.stft + torchaudio's Slaney mel filterbank, whisper's normalisation
audio = x['audio']
stft = torch.stft(audio, 400, 160, window=torch.hann_window(400), center=True, pad_mode='reflect',
                  return_complex=True)
power = stft[..., :-1].abs() ** 2
fb = torchaudio.functional.melscale_fbanks(201, 0.0, 8000.0, 128, 16000, norm='slaney', mel_scale='slaney')
mel = fb.T @ power
log = torch.clamp(mel, min=1e-10).log10()
log = torch.maximum(log, log.max() - 8.0)
out['logmel'] = (log + 4.0) / 4.0

# whisper encoder from nn modules: Conv1d, GELU, MultiheadAttention, LayerNorm, Linear
p = 'model.speech_encoder.'
d = cfg['speech_encoder_hidden_size']
heads = cfg['speech_encoder_num_heads']
def ln(prefix):
    m = nn.LayerNorm(d)
    m.weight.copy_(W[prefix + '.weight']); m.bias.copy_(W[prefix + '.bias'])
    return m
def lin(prefix, bias=True):
    w = W[prefix + '.weight']
    m = nn.Linear(w.shape[1], w.shape[0])
    m.weight.copy_(w); m.bias.copy_(W[prefix + '.bias'] if bias else torch.zeros(w.shape[0]))
    return m
conv1 = nn.Conv1d(128, d, 3, padding=1); conv1.weight.copy_(W[p + 'conv1.weight']); conv1.bias.copy_(W[p + 'conv1.bias'])
conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1); conv2.weight.copy_(W[p + 'conv2.weight']); conv2.bias.copy_(W[p + 'conv2.bias'])
gelu = nn.GELU()
h = gelu(conv2(gelu(conv1(x['mel'][None]))))[0].T
h = h + W[p + 'positional_embedding'][:h.shape[0]]
for i in range(cfg['speech_encoder_num_layers']):
    b = p + 'blocks.%d.' % i
    mha = nn.MultiheadAttention(d, heads, bias=True, batch_first=True)
    mha.in_proj_weight.copy_(torch.cat([W[b + 'attn.query.weight'], W[b + 'attn.key.weight'], W[b + 'attn.value.weight']]))
    mha.in_proj_bias.copy_(torch.cat([W[b + 'attn.query.bias'], torch.zeros(d), W[b + 'attn.value.bias']]))
    mha.out_proj.weight.copy_(W[b + 'attn.out.weight']); mha.out_proj.bias.copy_(W[b + 'attn.out.bias'])
    a = ln(b + 'attn_ln')(h)[None]
    h = h + mha(a, a, a, need_weights=False)[0][0]
    h = h + lin(b + 'mlp.2')(gelu(lin(b + 'mlp.0')(ln(b + 'mlp_ln')(h))))
out['encoder'] = ln(p + 'ln_post')(h)

# whisper text decoder from nn modules: Embedding, MultiheadAttention (causal float mask for self-attention,
# the encoder output as key/value for cross-attention), LayerNorm, Linear, GELU; logits = x @ embedding^T
if 'dec_tokens' in x:
    p = 'model.speech_decoder.'
    dheads = cfg['speech_decoder_num_heads']
    emb_w = W[p + 'token_embedding.weight']
    emb = nn.Embedding(emb_w.shape[0], d)
    emb.weight.copy_(emb_w)
    tokens = x['dec_tokens'].long()
    xa = x['dec_xa'][None]
    n = tokens.shape[0]
    h = emb(tokens) + W[p + 'positional_embedding'][:n]
    causal = torch.full((n, n), float('-inf')).triu(1)
    def mha(prefix):
        m = nn.MultiheadAttention(d, dheads, bias=True, batch_first=True)
        m.in_proj_weight.copy_(torch.cat([W[prefix + 'query.weight'], W[prefix + 'key.weight'], W[prefix + 'value.weight']]))
        m.in_proj_bias.copy_(torch.cat([W[prefix + 'query.bias'], torch.zeros(d), W[prefix + 'value.bias']]))
        m.out_proj.weight.copy_(W[prefix + 'out.weight']); m.out_proj.bias.copy_(W[prefix + 'out.bias'])
        return m
    for i in range(cfg['speech_decoder_num_layers']):
        b = p + 'blocks.%d.' % i
        a = ln(b + 'attn_ln')(h)[None]
        h = h + mha(b + 'attn.')(a, a, a, attn_mask=causal, need_weights=False)[0][0]
        a = ln(b + 'cross_attn_ln')(h)[None]
        h = h + mha(b + 'cross_attn.')(a, xa, xa, need_weights=False)[0][0]
        h = h + lin(b + 'mlp.2')(gelu(lin(b + 'mlp.0')(ln(b + 'mlp_ln')(h))))
    h = ln(p + 'ln')(h)
    out['dec_logits'] = h @ emb.weight.T

# transposed convolution
meta = x['ct_meta'].long().tolist()
out['convt'] = F.conv_transpose1d(x['ct_in'], x['ct_w'], x['ct_b'], stride=meta[0], padding=meta[1])

# CodeHiFiGAN from library operators: torch._weight_norm, conv1d, conv_transpose1d, layer_norm, leaky_relu
G = torch.load(ckpt + '/vocoder/g_00500000')['generator']
vc = json.load(open(ckpt + '/vocoder/config.json'))
def wn(prefix):
    return torch._weight_norm(G[prefix + '.weight_v'], G[prefix + '.weight_g'], 0)
units = x['units'].long()
e = F.embedding(units, G['dict.weight']).T[None]                      # [1, emb, L]
k = vc['dur_predictor_params']['var_pred_kernel_size']
t = F.relu(F.conv1d(e, G['dur_predictor.conv1.0.weight'], G['dur_predictor.conv1.0.bias'], padding=(k - 1) // 2))
t = F.layer_norm(t.transpose(1, 2), (t.shape[1],), G['dur_predictor.ln1.weight'], G['dur_predictor.ln1.bias'])
t = F.relu(F.conv1d(t.transpose(1, 2), G['dur_predictor.conv2.0.weight'], G['dur_predictor.conv2.0.bias'], padding=(k - 1) // 2))
t = F.layer_norm(t.transpose(1, 2), (t.shape[1],), G['dur_predictor.ln2.weight'], G['dur_predictor.ln2.bias'])
log_dur = F.linear(t, G['dur_predictor.proj.weight'], G['dur_predictor.proj.bias']).squeeze(2)
dur = torch.clamp(torch.round(torch.exp(log_dur) - 1).long(), min=1)
out['durations'] = dur[0].float()
v = torch.repeat_interleave(e, dur.view(-1), dim=2)
v = F.conv1d(v, wn('conv_pre'), G['conv_pre.bias'], padding=3)
nk = len(vc['resblock_kernel_sizes'])
for i, (u, ks) in enumerate(zip(vc['upsample_rates'], vc['upsample_kernel_sizes'])):
    v = F.conv_transpose1d(F.leaky_relu(v, 0.1), wn('ups.%d' % i), G['ups.%d.bias' % i], stride=u, padding=(ks - u) // 2)
    acc = None
    for j in range(nk):
        r = v
        kk = vc['resblock_kernel_sizes'][j]
        for m, dil in enumerate(vc['resblock_dilation_sizes'][j]):
            pre = 'resblocks.%d.' % (i * nk + j)
            z = F.conv1d(F.leaky_relu(r, 0.1), wn(pre + 'convs1.%d' % m), G[pre + 'convs1.%d.bias' % m],
                         padding=(kk * dil - dil) // 2, dilation=dil)
            z = F.conv1d(F.leaky_relu(z, 0.1), wn(pre + 'convs2.%d' % m), G[pre + 'convs2.%d.bias' % m],
                         padding=(kk - 1) // 2)
            r = z + r
        acc = r if acc is None else acc + r
    v = acc / nk
v = F.conv1d(F.leaky_relu(v), wn('conv_post'), G['conv_post.bias'], padding=3)
out['wave'] = torch.tanh(v).reshape(-1)

torch.save({'out': {k2: v2.contiguous().float() for k2, v2 in out.items()}}, outputs_path)
print('ok')
