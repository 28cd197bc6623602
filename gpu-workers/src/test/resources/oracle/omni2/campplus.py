# Reference for the Java speaker front end (KaldiFbank, CampPlusSpeaker) with Debian PyTorch 1.13 + torchaudio 0.13:
# CosyVoice's _extract_spk_embedding written from its description (shared/CHECKPOINT-OMNI2.md: "campplus.onnx on
# 80-bin Kaldi fbank, mean-normalized"): torchaudio.compliance.kaldi.fbank(num_mel_bins=80, dither=0,
# sample_frequency=16000), minus the mean over time, then the speaker net on [1, frames, 80].
# The published campplus.onnx cannot be downloaded, so this script also writes the test fixture: a tiny network with
# CAM++'s interface (input 'input' [B, T, 80] with dynamic B and T, output 'output' [B, 192]; convolutions over time,
# statistics pooling, a linear layer), seeded, exported with torch.onnx.export (no 'onnx' python package needed),
# plus one export with the wrong input layout ([B, 80, T]) for the bad-input test.
# Usage: campplus.py OUT_DIR WAV...   (mono 16-bit PCM or 32-bit float WAVs; other rates resampled to 16 kHz with
#   torchaudio.transforms.Resample as CosyVoice's load_wav does; the chunks parsed here, as torchaudio.load may
#   have no backend on Debian)
# Writes OUT_DIR/campplus.onnx, OUT_DIR/campplus_channels_first.onnx and OUT_DIR/outputs.pt with, per WAV i:
#   wave16k_i [N] (the 16 kHz samples),
#   fbank_i [T, 80] (torchaudio), fbank64_i (the same computed in float64, saved as float32),
#   feat_i [T, 80] (mean-normalised), xvector_i [192] (the tiny net in torch on feat_i).
import os
import sys
import struct

import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi

torch.set_grad_enabled(False)
out_dir, wavs = sys.argv[1], sys.argv[2:]


class TinyCampPlus(torch.nn.Module):
    """CAM++'s interface, not its architecture: fbank [B, T, 80] -> x-vector [B, 192]."""

    def __init__(self, channels_first=False):
        super().__init__()
        self.channels_first = channels_first
        self.conv1 = torch.nn.Conv1d(80, 64, 5, padding=2)
        self.conv2 = torch.nn.Conv1d(64, 64, 3, padding=2, dilation=2)
        self.proj = torch.nn.Linear(128, 192)

    def forward(self, x):
        h = x if self.channels_first else x.transpose(1, 2)  # [B, 80, T]
        h = torch.relu(self.conv1(h))
        h = torch.relu(self.conv2(h)) + h
        stats = torch.cat([h.mean(dim=2), h.std(dim=2)], dim=1)  # statistics pooling over time
        return self.proj(stats)


def export(model, path, example):
    torch.onnx.export(model, (example,), path, input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'batch', 1 if not model.channels_first else 2: 'frames'},
                                    'output': {0: 'batch'}}, opset_version=13)


torch.manual_seed(20241204)
net = TinyCampPlus().eval()
export(net, os.path.join(out_dir, 'campplus.onnx'), torch.randn(1, 50, 80))
torch.manual_seed(7)
export(TinyCampPlus(channels_first=True).eval(), os.path.join(out_dir, 'campplus_channels_first.onnx'),
       torch.randn(1, 80, 50))


def read_wav(path):
    """A mono 16-bit PCM or 32-bit float WAV -> [1, N] on a +-1 scale (as torchaudio.load), then to 16 kHz with
    torchaudio.transforms.Resample's defaults, as CosyVoice's load_wav does."""
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:4] == b'RIFF' and data[8:12] == b'WAVE', path
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):  # walk the chunks (fmt, fact, data, ...)
        cid, size = data[pos:pos + 4], struct.unpack('<I', data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b'fmt ':
            fmt = struct.unpack('<HHIIHH', body[:16])
        elif cid == b'data':
            pcm = body
        pos += 8 + size + (size & 1)
    tag, channels, rate, _, _, bits = fmt
    assert channels == 1, path
    if tag == 1 and bits == 16:
        x = torch.frombuffer(bytearray(pcm), dtype=torch.int16).float() / 32768.0
    elif tag == 3 and bits == 32:
        x = torch.frombuffer(bytearray(pcm), dtype=torch.float32).clone()
    else:
        raise ValueError('%s: format %d, %d bits' % (path, tag, bits))
    x = x.unsqueeze(0)
    if rate != 16000:
        x = torchaudio.transforms.Resample(orig_freq=rate, new_freq=16000)(x)
    return x


out = {}
for i, path in enumerate(wavs):
    wave16k = read_wav(path)
    out['wave16k_%d' % i] = wave16k.flatten()
    fbank = kaldi.fbank(wave16k, num_mel_bins=80, dither=0, sample_frequency=16000)
    # the same in float64: how far torch's own float32 rounding moves the values
    out['fbank64_%d' % i] = kaldi.fbank(wave16k.double(), num_mel_bins=80, dither=0, sample_frequency=16000)
    feat = fbank - fbank.mean(dim=0, keepdim=True)
    out['fbank_%d' % i] = fbank
    out['feat_%d' % i] = feat
    out['xvector_%d' % i] = net(feat.unsqueeze(0)).flatten()

torch.save({'out': {k: v.contiguous().float() for k, v in out.items()}}, os.path.join(out_dir, 'outputs.pt'))
print('ok')
