"""Discriminators for the vocoder's adversarial phase (voice_vocoder.py --gan-after): HiFi-GAN's idea, written small
for this CPU budget. Trained with the L1 spectral losses alone, the vocoder's spectrogram comes out smoother than
the original (no clear harmonics) and pocketsphinx hears it worse than espeak-ng, most of all through G.711; a
discriminator that looks at the waveform's periodic structure (periods 2..11 samples) and at its overall shape
pushes the generator towards crisp harmonics. Never exported: only the generator goes into the checkpoint.

- PeriodDiscriminator(p): the waveform folded into [T/p, p] and 2-D convolutions along time only, so each of the p
  phases is judged on its own period structure.
- WaveDiscriminator: strided, grouped 1-D convolutions over the raw waveform.
Losses: least squares (real -> 1, generated -> 0) and feature matching (L1 between the discriminators' hidden
activations on real and generated audio)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import weight_norm

SLOPE = 0.1


class PeriodDiscriminator(nn.Module):
    def __init__(self, period, channels=(16, 32, 64, 128)):
        super().__init__()
        self.period = period
        convs, c_in = [], 1
        for c in channels:
            convs.append(weight_norm(nn.Conv2d(c_in, c, (5, 1), (3, 1), padding=(2, 0))))
            c_in = c
        convs.append(weight_norm(nn.Conv2d(c_in, c_in, (5, 1), 1, padding=(2, 0))))
        self.convs = nn.ModuleList(convs)
        self.out = weight_norm(nn.Conv2d(c_in, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x):  # x: [B, 1, T]
        b, c, t = x.shape
        if t % self.period:
            x = F.pad(x, (0, self.period - t % self.period), mode="reflect")
        x = x.view(b, c, -1, self.period)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), SLOPE)
            features.append(x)
        return self.out(x).flatten(1), features


class WaveDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        spec = [(1, 16, 15, 1, 1), (16, 64, 41, 4, 4), (64, 128, 41, 4, 16), (128, 128, 41, 4, 16), (128, 128, 5, 1, 1)]
        self.convs = nn.ModuleList(
            [weight_norm(nn.Conv1d(i, o, k, s, groups=g, padding=k // 2)) for i, o, k, s, g in spec])
        self.out = weight_norm(nn.Conv1d(128, 1, 3, 1, padding=1))

    def forward(self, x):
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), SLOPE)
            features.append(x)
        return self.out(x).flatten(1), features


class Discriminators(nn.Module):
    def __init__(self, periods=(2, 3, 5, 7, 11)):
        super().__init__()
        self.all = nn.ModuleList([PeriodDiscriminator(p) for p in periods] + [WaveDiscriminator()])

    def forward(self, wave):  # wave: [B, T] -> [(score, features)] per discriminator
        x = wave.unsqueeze(1)
        return [d(x) for d in self.all]


def discriminator_loss(real, fake):
    """least squares: real scores towards 1, generated towards 0 (fake computed on detached audio)."""
    return sum(((r - 1) ** 2).mean() + (f ** 2).mean() for (r, _), (f, _) in zip(real, fake))


def generator_losses(real, fake):
    """(adversarial, feature matching) for the generator: its scores towards 1, and its hidden activations
    towards the real audio's (real computed without gradient)."""
    adv = sum(((f - 1) ** 2).mean() for f, _ in fake)
    fm = sum(F.l1_loss(ff, rf.detach()) for (_, rfs), (_, ffs) in zip(real, fake) for rf, ff in zip(rfs, ffs))
    return adv, fm
