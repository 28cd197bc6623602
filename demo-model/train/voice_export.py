"""Voice stage, step 3: export the trained vocoder to checkpoint/vocoder/ in fairseq's layout.

checkpoint/vocoder/g_00500000: torch.save (zip) of {"generator": state_dict}, fp16, weight norm kept as
weight_g / weight_v (the file name is the runtime's ModelOptions.DEFAULT_VOCODER); checkpoint/vocoder/config.json:
fairseq CodeHiFiGAN config names (read by the Java VocoderConfig).

usage: /usr/bin/python3 demo-model/train/voice_export.py [--smoke] [--out DIR]
"""
import argparse
import json
import os

import torch

import voice_common as vc
import voice_model as vm


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--work", default=None)
    ap.add_argument("--out", default=None, help="default checkpoint/vocoder (smoke: work/smoke/vocoder)")
    args = ap.parse_args(argv)
    work = args.work or (os.path.join(vc.WORK, "smoke") if args.smoke else vc.WORK)
    out = args.out or (os.path.join(work, "vocoder") if args.smoke else os.path.join(vc.CHECKPOINT, "vocoder"))
    ck = torch.load(os.path.join(work, "voice", "vocoder.pt"))
    model = vm.CodeHiFiGAN(ck["cfg"])
    model.load_state_dict(ck["model"])
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "g_00500000")
    torch.save({"generator": state}, path)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(ck["cfg"], f, indent=1)
        f.write("\n")
    n = sum(v.numel() for v in state.values())
    last = ck["log"][-1] if ck["log"] else {}
    print(f"exported={path} params={n} bytes={os.path.getsize(path)} steps={ck['step']} "
          f"train_minutes={ck['spent'] / 60:.1f} last={json.dumps(last)}")


if __name__ == "__main__":
    main()
