# Independent reference for the Java HiftVocoder: CosyVoice2's HiFTGenerator written from the spec
# (shared/CHECKPOINT-OMNI2.md, "HiFT") with Debian PyTorch 1.13 library operators: torch._weight_norm,
# F.conv1d, F.conv_transpose1d, F.elu, F.interpolate (nearest, as nn.Upsample), torch.cumsum, torch.stft,
# torch.istft. The random start phases and noise of the sine source come in as inputs (the Java pins).
# Usage: hift.py HIFT_PT INPUTS.pt OUTPUTS.pt [RESAVED_PT]
#   RESAVED_PT: the same weights re-saved by torch.save of a state dict carrying _metadata (as
#   module.state_dict() does), every name under 'generator.', weight norm in the parametrizations naming.
import collections
import math
import sys
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)
hift_path, inputs_path, outputs_path = sys.argv[1:4]
resaved_path = sys.argv[4] if len(sys.argv) > 4 else None

raw = torch.load(hift_path, map_location='cpu')
sd = {(k[len('generator.'):] if k.startswith('generator.') else k): v.float() for k, v in raw.items()}
x = torch.load(inputs_path)['inputs']
out = {}

# CosyVoice2's structure (the widths come from the tensors)
SR = 24000
RATES, UP_KERNELS = [8, 5, 3], [16, 11, 7]
N_FFT, HOP = 16, 4
RES_KERNELS, RES_DILATIONS = [3, 7, 11], [[1, 3, 5]] * 3
SRC_KERNELS, SRC_DILATIONS = [7, 7, 11], [[1, 3, 5]] * 3
HARMONICS, SINE_AMP, NOISE_STD, VOICED_THRESHOLD = 8, 0.1, 0.003, 10
UPSAMPLE = 8 * 5 * 3 * HOP  # 480 samples per mel frame
WINDOW = torch.hann_window(N_FFT, periodic=True)


def wn(p):
    """A weight-normed conv weight, g * v / ||v|| over all axes but 0, from either naming."""
    if p + '.weight_v' in sd:
        return torch._weight_norm(sd[p + '.weight_v'], sd[p + '.weight_g'], 0)
    return torch._weight_norm(sd[p + '.parametrizations.weight.original1'],
                              sd[p + '.parametrizations.weight.original0'], 0)


def snake(h, alpha):
    a = alpha[None, :, None]
    return h + (1.0 / (a + 1e-9)) * torch.pow(torch.sin(h * a), 2)


def resblock(p, h, k, dilations):
    for m, d in enumerate(dilations):
        t = snake(h, sd['%s.activations1.%d.alpha' % (p, m)])
        t = F.conv1d(t, wn('%s.convs1.%d' % (p, m)), sd['%s.convs1.%d.bias' % (p, m)],
                     padding=(k * d - d) // 2, dilation=d)
        t = snake(t, sd['%s.activations2.%d.alpha' % (p, m)])
        t = F.conv1d(t, wn('%s.convs2.%d' % (p, m)), sd['%s.convs2.%d.bias' % (p, m)], padding=(k - 1) // 2)
        h = t + h
    return h


def predict_f0(mel):  # [1, 80, T] -> [1, T]
    h = mel
    for i in range(5):
        p = 'f0_predictor.condnet.%d' % (2 * i)
        h = F.elu(F.conv1d(h, wn(p), sd[p + '.bias'], padding=1))
    y = F.linear(h.transpose(1, 2), sd['f0_predictor.classifier.weight'], sd['f0_predictor.classifier.bias'])
    return torch.abs(y.squeeze(-1))


def source(f0, phases, unit_noise):  # f0 [1, T] -> [1, 1, L]
    f = F.interpolate(f0[:, None], scale_factor=UPSAMPLE, mode='nearest')  # [1, 1, L], as nn.Upsample
    fmat = torch.zeros(1, HARMONICS + 1, f.shape[-1])
    for i in range(HARMONICS + 1):
        fmat[:, i:i + 1, :] = f * (i + 1) / SR
    theta = 2 * math.pi * (torch.cumsum(fmat, dim=-1) % 1)
    sines = SINE_AMP * torch.sin(theta + phases[None, :, None])
    uv = (f > VOICED_THRESHOLD).type(torch.float32)
    noise_amp = uv * NOISE_STD + (1 - uv) * SINE_AMP / 3
    noise = noise_amp * unit_noise[None]
    sines = sines * uv + noise
    merged = torch.tanh(F.linear(sines.transpose(1, 2), sd['m_source.l_linear.weight'], sd['m_source.l_linear.bias']))
    return merged.transpose(1, 2)


def stft(sig):  # [1, L] -> [1, 18, L/4 + 1]: real parts, then imaginary parts
    spec = torch.stft(sig, N_FFT, HOP, N_FFT, window=WINDOW, center=True, pad_mode='reflect', return_complex=True)
    return torch.cat([spec.real, spec.imag], dim=1)


def istft(magnitude, phase):  # [1, 9, F] each -> [1, 4(F-1)]
    return torch.istft(torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase)), N_FFT, HOP, N_FFT,
                       window=WINDOW, center=True)


def decode(mel, s):  # [1, 80, T], [1, 1, L] -> [L]
    s_stft = stft(s[:, 0])
    h = F.conv1d(mel, wn('conv_pre'), sd['conv_pre.bias'], padding=3)
    for i in range(len(RATES)):
        h = F.leaky_relu(h, 0.1)
        h = F.conv_transpose1d(h, wn('ups.%d' % i), sd['ups.%d.bias' % i], stride=RATES[i],
                               padding=(UP_KERNELS[i] - RATES[i]) // 2)
        if i == len(RATES) - 1:
            h = F.pad(h, (1, 0), mode='reflect')
        r = [15, 3, 1][i]
        si = F.conv1d(s_stft, sd['source_downs.%d.weight' % i], sd['source_downs.%d.bias' % i], stride=r,
                      padding=r // 2 if r > 1 else 0)
        h = h + resblock('source_resblocks.%d' % i, si, SRC_KERNELS[i], SRC_DILATIONS[i])
        xs = None
        for j in range(len(RES_KERNELS)):
            y = resblock('resblocks.%d' % (i * len(RES_KERNELS) + j), h, RES_KERNELS[j], RES_DILATIONS[j])
            xs = y if xs is None else xs + y
        h = xs / len(RES_KERNELS)
    h = F.leaky_relu(h)
    h = F.conv1d(h, wn('conv_post'), sd['conv_post.bias'], padding=3)
    magnitude = torch.clip(torch.exp(h[:, :N_FFT // 2 + 1]), max=1e2)
    phase = torch.sin(h[:, N_FFT // 2 + 1:])
    return torch.clamp(istft(magnitude, phase), -0.99, 0.99)[0]


mel = x['mel'][None]
f0 = predict_f0(mel)
s = source(f0, x['phases'], x['noise'])
out['f0'] = f0[0]
out['source'] = s[0, 0]
out['wave'] = decode(mel, s)
out['wave_java_source'] = decode(mel, x['java_source'][None, None])
# the transform pair alone
out['stft'] = stft(x['stft_x'][None])[0]
out['istft'] = istft(x['istft_mag'][None], x['istft_phase'][None])[0]
# nearest upsampling over a long reply: where nn.Upsample's float source index is not dst // 480
n = int(x['upsample_frames'].item())
index = F.interpolate(torch.arange(n, dtype=torch.float32)[None, None], scale_factor=UPSAMPLE, mode='nearest')[0, 0]
plain = torch.div(torch.arange(n * UPSAMPLE), UPSAMPLE, rounding_mode='floor').float()
bad = (index != plain).nonzero().flatten()
out['upsample_bad_dst'] = torch.cat([bad.float(), torch.tensor([-1.0])])  # -1 ends the list (never empty)
out['upsample_bad_src'] = torch.cat([index[bad], torch.tensor([-1.0])])

if resaved_path:
    def rename(k):
        if k.endswith('.weight_g'):
            return k[:-len('.weight_g')] + '.parametrizations.weight.original0'
        if k.endswith('.weight_v'):
            return k[:-len('.weight_v')] + '.parametrizations.weight.original1'
        return k
    resaved = collections.OrderedDict(('generator.' + rename(k), v.clone()) for k, v in raw.items())
    resaved._metadata = collections.OrderedDict([('', {'version': 1})])
    torch.save(resaved, resaved_path)

torch.save({'out': {k: v.contiguous().float() for k, v in out.items()}}, outputs_path)
print('ok')
