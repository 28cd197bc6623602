"""The whole voice stage in one command: units -> vocoder training -> export (-> pocketsphinx evaluation).

  /usr/bin/python3 demo-model/train/voice_train.py [--minutes 40] [--seed 1234] [--eval]
  /usr/bin/python3 demo-model/train/voice_train.py --smoke     # CI: every step on 3 answers, tiny model, < 30 s
  --part units | --part vocoder: the units alone (minutes; the brain's CTC stage needs them), or vocoder + export
  (train.sh runs the vocoder on the second core while the brain trains on the first)

Full run writes demo-model/work/{units.json,voice/*}, checkpoint/units.json and checkpoint/vocoder/*;
--smoke writes only under demo-model/work/smoke/ (never touches checkpoint/).
"""
import argparse
import time

import voice_eval
import voice_export
import voice_units
import voice_vocoder


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--minutes", type=float, default=75.0, help="vocoder training budget")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--eval", action="store_true", help="run voice_eval.py (pocketsphinx) at the end")
    ap.add_argument("--part", choices=("all", "units", "vocoder"), default="all")
    ap.add_argument("--gan-after", type=float, default=None,
                    help="minutes after which the discriminators join (voice_vocoder.py); default: never")
    ap.add_argument("--kernels", default="3,7,11", help="resblock kernel sizes (voice_vocoder.py)")
    ap.add_argument("--telephone-weight", type=float, default=1.0,
                    help="weight of the telephone-band log-mel loss (voice_vocoder.py)")
    args = ap.parse_args()
    seed = ["--seed", str(args.seed)]
    smoke = ["--smoke"] if args.smoke else []
    times = {}
    if args.part in ("all", "units"):
        t = time.time()
        voice_units.main(seed + smoke)
        times["units_s"] = time.time() - t
    if args.part == "units":
        print("voice_stage " + " ".join(f"{k}={v:.1f}" for k, v in times.items()) + " part=units")
        return
    t = time.time()
    gan = ["--gan-after", str(0 if args.smoke else args.gan_after)] if args.smoke or args.gan_after is not None else []
    recipe = ["--kernels", args.kernels, "--telephone-weight", str(args.telephone_weight)]
    voice_vocoder.main(seed + smoke + gan + recipe + ([] if args.smoke else ["--minutes", str(args.minutes), "--fresh"]))
    times["vocoder_s"] = time.time() - t
    t = time.time()
    voice_export.main(smoke)
    times["export_s"] = time.time() - t
    if args.smoke:  # the exported files load back into the module and speak an answer of the right size
        import json, os
        import voice_common as vc
        import voice_oracle
        model = voice_oracle.load_vocoder(os.path.join(vc.WORK, "smoke", "vocoder"))
        with open(os.path.join(vc.WORK, "smoke", "units.json")) as f:
            answer = json.load(f)["intents"][0]
        wave, durations = model.synthesize(answer["units"])
        assert wave.numel() == int(durations.sum()) * vc.HOP and wave.abs().max() <= 1, "smoke synthesis is wrong"
    if args.eval and not args.smoke:
        t = time.time()
        voice_eval.main([])
        times["eval_s"] = time.time() - t
    print("voice_stage " + " ".join(f"{k}={v:.1f}" for k, v in times.items()) + f" smoke={str(args.smoke).lower()}")


if __name__ == "__main__":
    main()
