"""Stage 2: Whisper log-mel features of every utterance, computed exactly as the Java LogMelFrontend does at
encoder-padded-seconds 0 (natural length rounded up to 0.1 s, 128 Slaney bins, n_fft 400, hop 160), stored fp16
in work/features.pt. `--check WAV STAGES` compares with a Java DumpStages dump of the same file."""
import json
import os
import sys

import torch

import common as C


def main():
    C.setup()
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        mel = C.log_mel(C.read_wav16k(sys.argv[2]))
        java = C.load_safetensors(sys.argv[3])["log_mel"].float()
        diff = (mel - java).abs().max().item() if mel.shape == java.shape else float("inf")
        C.log("features", f"log-mel torch {tuple(mel.shape)} vs Java {tuple(java.shape)}: max |diff| {diff:.2e}")
        return 0 if diff < 2e-3 else 1
    with open(os.path.join(C.WORK, "audio", "manifest.json")) as f:
        manifest = json.load(f)
    feats = []
    for i, m in enumerate(manifest):
        feats.append(C.log_mel(C.read_wav16k(os.path.join(C.WORK, m["path"]))).half())
    torch.save({"manifest": manifest, "mel": feats}, os.path.join(C.WORK, "features.pt"))
    frames = sum(f.shape[1] for f in feats)
    C.log("features", f"{len(feats)} utterances, {frames / 100:.0f} s of audio, mean {frames / len(feats) / 100:.2f} s")


if __name__ == "__main__":
    sys.exit(main())
