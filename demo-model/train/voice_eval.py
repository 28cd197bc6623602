"""Voice stage, step 4: how intelligible the trained vocoder is, measured with pocketsphinx (voice_asr.py).

Answers: each answer's units (units.json) vocoded with PREDICTED durations (what the runtime does) vs espeak-ng's
own rendering in the bot voice: sentence grammar (12 answers as alternatives) and word-loop WER (answers' words),
at 16 kHz and after an 8 kHz G.711 mu-law round trip. Held-out sentences: the intents' test questions in the bot
voice (never trained on), units from the k-means inventory, vocoded with predicted durations vs the espeak
originals: word-loop WER over every word of intents.json. Also the vocoder's real-time factor (1 torch thread).
Writes work/voice/eval/{vocoder,espeak,heldout_*}/*.wav and work/voice/eval/results.json; last line key=value.

usage: /usr/bin/python3 demo-model/train/voice_eval.py [--vocoder DIR] [--no-heldout]
"""
import argparse
import json
import os
import time

import torch
import torchaudio

import voice_asr as va
import voice_common as vc
import voice_oracle as vo


def save(path, wave):
    torchaudio.save(path, wave[None].clamp(-1, 1), vc.SAMPLE_RATE, encoding="PCM_S", bits_per_sample=16)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocoder", default=os.path.join(vc.CHECKPOINT, "vocoder"))
    ap.add_argument("--units", default=os.path.join(vc.CHECKPOINT, "units.json"))
    ap.add_argument("--out", default=os.path.join(vc.VOICE_WORK, "eval"))
    ap.add_argument("--no-heldout", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    intents = vc.load_intents()
    model = vo.load_vocoder(args.vocoder)
    with open(args.units) as f:
        answers = json.load(f)["intents"]
    dirs = {k: os.path.join(args.out, k) for k in ["vocoder", "espeak", "heldout_vocoder", "heldout_espeak"]}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    voc, esp = [], []
    synth_s = audio_s = 0.0
    dur_err = []
    for a in answers:
        t = time.time()
        wave, durs = model.synthesize(a["units"])
        synth_s += time.time() - t
        audio_s += wave.numel() / vc.SAMPLE_RATE
        dur_err.append(int(durs.sum()) / a["frames"] - 1)
        save(os.path.join(dirs["vocoder"], a["name"] + ".wav"), wave)
        save(os.path.join(dirs["espeak"], a["name"] + ".wav"), vc.espeak_16k(a["answer"], vc.bot_voice_args(intents)))
        voc.append((a["name"], os.path.join(dirs["vocoder"], a["name"] + ".wav")))
        esp.append((a["name"], os.path.join(dirs["espeak"], a["name"] + ".wav")))
    results = {"rtf": synth_s / audio_s, "length_error_mean": sum(abs(e) for e in dur_err) / len(dur_err)}
    for g711 in (False, True):
        tag = "g711" if g711 else "16k"
        for name, pairs in (("vocoder", voc), ("espeak", esp)):
            r = va.score(pairs, g711=g711, intents=intents)
            results[f"{name}_{tag}"] = {"sentence_correct": r["sentence_correct"], "total": r["total"],
                                        "wer": round(r["wer"], 3),
                                        "wrong": [f["intent"] + "->" + f["picked"] for f in r["files"]
                                                  if not f["sentence_ok"]]}
            print(tag, name, json.dumps(results[f"{name}_{tag}"]), flush=True)
    if not args.no_heldout:
        km = torch.load(os.path.join(vc.VOICE_WORK, "kmeans.pt"))
        mel = vc.LogMel()
        voc_h, esp_h = [], []
        for it in intents["intents"]:
            for k, q in enumerate(it["test"]):
                wav = vc.trim_to_hop(vc.espeak_16k(q, vc.bot_voice_args(intents)))
                with torch.no_grad():
                    f = mel(wav).T
                units, _ = vc.collapse(torch.cdist((f - km["mean"]) / km["std"], km["centroids"]).argmin(1).tolist())
                out, _ = model.synthesize(units)
                name = f"{it['name']}_{k}.wav"
                save(os.path.join(dirs["heldout_vocoder"], name), out)
                save(os.path.join(dirs["heldout_espeak"], name), wav)
                voc_h.append((q, os.path.join(dirs["heldout_vocoder"], name)))
                esp_h.append((q, os.path.join(dirs["heldout_espeak"], name)))
        for g711 in (False, True):
            tag = "g711" if g711 else "16k"
            for name, pairs in (("vocoder", voc_h), ("espeak", esp_h)):
                wer, _ = va.word_error_rate(pairs, vocab="all", g711=g711, intents=intents)
                results[f"heldout_{name}_{tag}_wer"] = round(wer, 3)
                print(f"heldout {tag} {name} wer={wer:.3f}", flush=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    r = results
    print(" ".join([f"rtf={r['rtf']:.3f}", f"length_error={r['length_error_mean']:.3f}"]
                   + [f"{k}_sentence={r[k]['sentence_correct']}/{r[k]['total']} {k}_wer={r[k]['wer']}"
                      for k in ["vocoder_16k", "espeak_16k", "vocoder_g711", "espeak_g711"]]
                   + [f"{k}={v}" for k, v in r.items() if k.startswith("heldout_")]))


if __name__ == "__main__":
    main()
