"""PyTorch reference output of an exported vocoder, for the Java UnitVocoder check (DemoVocoderTest).

Loads checkpoint/vocoder/{g_00500000,config.json} into the trainer's own nn.Module (voice_model.CodeHiFiGAN,
fp16 weights widened to float32, eval mode), synthesises the given units with predicted durations (or writes
wav files of answers), and saves {"out": {"durations": [L], "wave": [S]}} with torch.save.

usage: voice_oracle.py VOCODER_DIR UNITS_FILE OUT.pt
       (UNITS_FILE: a torch.save {"inputs": {"units": float [L]}} as Java's TorchCheckpointWriter writes it)
       voice_oracle.py --wav VOCODER_DIR UNITS_JSON OUT_DIR   (every answer of units.json -> OUT_DIR/NAME.wav)
"""
import json
import os
import sys

import torch
import torchaudio

import voice_model as vm


def load_vocoder(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    model = vm.CodeHiFiGAN(cfg)
    state = torch.load(os.path.join(d, "g_00500000"), map_location="cpu")["generator"]
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()


def main(argv):
    torch.set_num_threads(1)
    if argv[0] == "--wav":
        model = load_vocoder(argv[1])
        with open(argv[2]) as f:
            answers = json.load(f)["intents"]
        os.makedirs(argv[3], exist_ok=True)
        for a in answers:
            wave, _ = model.synthesize(a["units"])
            torchaudio.save(os.path.join(argv[3], a["name"] + ".wav"), wave[None], 16000,
                            encoding="PCM_S", bits_per_sample=16)
        return
    model = load_vocoder(argv[0])
    units = torch.load(argv[1])["inputs"]["units"].round().long().tolist()
    wave, durations = model.synthesize(units)
    torch.save({"out": {"durations": durations.float(), "wave": wave.float()}}, argv[2])


if __name__ == "__main__":
    main(sys.argv[1:])
