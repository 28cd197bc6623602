"""Shared pieces of the voice stage (H5): paths, bot-voice rendering, 50 Hz log-mel features.

Debian's PyTorch 1.13 (/usr/bin/python3). Every script of the stage imports this module.
"""
import json
import os
import subprocess
import tempfile

import torch
import torchaudio

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.dirname(HERE)
# the same directories as the brain stages (common.py): train.sh's DEMO_WORK / DEMO_CHECKPOINT move both (before
# session 9 a run with them set still wrote units.json and the vocoder into the committed checkpoint/). A smoke run
# (DEMO_SMOKE=1) keeps the voice scripts' own layout: --smoke puts their files under demo-model/work/smoke
WORK = os.path.join(DEMO, "work") if os.environ.get("DEMO_SMOKE", "0") == "1" \
    else os.environ.get("DEMO_WORK", os.path.join(DEMO, "work"))
VOICE_WORK = os.path.join(WORK, "voice")
CHECKPOINT = os.environ.get("DEMO_CHECKPOINT", os.path.join(DEMO, "checkpoint"))
INTENTS = os.path.join(DEMO, "intents.json")

SAMPLE_RATE = 16000
HOP = 320  # 50 unit frames per second: the vocoder's code_hop_size
N_FFT = 1024
N_MELS = 80


def load_intents(path=INTENTS):
    with open(path) as f:
        return json.load(f)


def bot_voice_args(intents):
    bot = intents["voices"]["bot"]
    voice = bot["voice"] + ("+" + bot["variant"] if bot.get("variant") else "")
    return ["-v", voice, "-s", str(bot["speed"]), "-p", str(bot["pitch"])]


def espeak_16k(text, espeak_args):
    """espeak-ng (22.05 kHz) -> sox -> 16 kHz mono float tensor in [-1, 1]."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.wav")
        out = os.path.join(tmp, "out.wav")
        subprocess.run(["espeak-ng", *espeak_args, "-w", raw, text], check=True, capture_output=True)
        subprocess.run(["sox", "-D", raw, "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", out], check=True,
                       capture_output=True)
        wav, sr = torchaudio.load(out)
    assert sr == SAMPLE_RATE
    return wav[0]


def trim_to_hop(wav):
    """Pad with zeros to a whole number of hops, so frames * HOP == samples."""
    n = (wav.numel() + HOP - 1) // HOP * HOP
    return torch.nn.functional.pad(wav, (0, n - wav.numel()))


class LogMel(torch.nn.Module):
    """80-bin log-mel at 50 Hz: frame t is centred on samples [t*HOP, (t+1)*HOP), T = samples / HOP."""

    def __init__(self, n_fft=N_FFT, hop=HOP, n_mels=N_MELS, win=N_FFT):
        super().__init__()
        self.hop = hop
        self.n_fft = n_fft
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=n_fft, win_length=win, hop_length=hop, f_min=0.0, f_max=8000.0,
            n_mels=n_mels, power=1.0, center=False, norm="slaney", mel_scale="slaney")

    def forward(self, wav):
        # wav [..., S] with S a multiple of hop -> [..., n_mels, S / hop]
        pad = (self.n_fft - self.hop) // 2
        x = torch.nn.functional.pad(wav.unsqueeze(-2), (pad, pad), mode="reflect").squeeze(-2)
        return torch.log(torch.clamp(self.mel(x), min=1e-5))


def collapse(frame_units):
    """Consecutive repeats merged (as HuBERT units are): -> (units, durations)."""
    units, durations = [], []
    for u in frame_units:
        u = int(u)
        if units and units[-1] == u:
            durations[-1] += 1
        else:
            units.append(u)
            durations.append(1)
    return units, durations
