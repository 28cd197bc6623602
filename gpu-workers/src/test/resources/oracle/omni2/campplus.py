# Reference for the Java speaker front end (KaldiFbank, CampPlusSpeaker) with Debian PyTorch 1.13 + torchaudio 0.13:
# CosyVoice's _extract_spk_embedding written from its description (shared/CHECKPOINT-OMNI2.md: "campplus.onnx on
# 80-bin Kaldi fbank, mean-normalized"): torchaudio.compliance.kaldi.fbank(num_mel_bins=80, dither=0,
# sample_frequency=16000), minus the mean over time, then the speaker net on [1, frames, 80].
# The published campplus.onnx cannot be downloaded, so this script also writes the test fixture: a tiny network with
# CAM++'s interface (input 'input' [B, T, 80] with dynamic B and T, output 'output' [B, 192]; convolutions over time,
# statistics pooling, a linear layer), seeded, exported with torch.onnx.export (no 'onnx' python package needed),
# plus one export with the wrong input layout ([B, 80, T]) for the bad-input test.
# Usage: campplus.py OUT_DIR WAV...   (16-bit mono 16 kHz WAVs, read with the wave module as sample / 32768)
# Writes OUT_DIR/campplus.onnx, OUT_DIR/campplus_channels_first.onnx and OUT_DIR/outputs.pt with, per WAV i:
#   fbank_i [T, 80] (torchaudio), fbank64_i (the same computed in float64, saved as float32), feat_i [T, 80] (mean-normalised), xvector_i [192] (the tiny net in torch on feat_i).
import os
import sys
import wave

import torch
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
    with wave.open(path, 'rb') as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == 16000, path
        pcm = torch.frombuffer(bytearray(w.readframes(w.getnframes())), dtype=torch.int16)
    return pcm.float().unsqueeze(0) / 32768.0  # [1, N], as torchaudio.load


out = {}
for i, path in enumerate(wavs):
    fbank = kaldi.fbank(read_wav(path), num_mel_bins=80, dither=0, sample_frequency=16000)
    # the same in float64: how far torch's own float32 rounding moves the values
    out['fbank64_%d' % i] = kaldi.fbank(read_wav(path).double(), num_mel_bins=80, dither=0, sample_frequency=16000)
    feat = fbank - fbank.mean(dim=0, keepdim=True)
    out['fbank_%d' % i] = fbank
    out['feat_%d' % i] = feat
    out['xvector_%d' % i] = net(feat.unsqueeze(0)).flatten()

torch.save({'out': {k: v.contiguous().float() for k, v in out.items()}}, os.path.join(out_dir, 'outputs.pt'))
print('ok')
