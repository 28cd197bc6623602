"""Voice stage, step 1: the bot's answers in the bot voice and the project's own speech-unit inventory.

- renders the 12 answers (and, as extra vocoder data, the intents' training questions) with espeak-ng in the
  bot voice of intents.json, resampled to 16 kHz by sox;
- 80-bin log-mel at 50 Hz (hop 320), standardised per bin;
- k-means (k-means++ init, Lloyd iterations, in torch) -> the unit inventory (default 200 units);
- every frame gets its nearest centroid; consecutive repeats merged, run lengths kept as durations;
- writes work/voice/data.pt (audio, frame units) for the vocoder, work/voice/kmeans.pt, and
  work/units.json (the answers' collapsed units = the CTC targets, the inventory size), copied to
  checkpoint/units.json (committed, for the brain stage).

usage: /usr/bin/python3 demo-model/train/voice_units.py [--units 200] [--seed 1234] [--smoke]
"""
import argparse
import json
import os
import shutil
import time

import torch

import voice_common as vc


def kmeans(x, k, iters, seed):
    """k-means++ init then Lloyd; x [N, D] -> (centroids [k, D], labels [N], inertia per frame)."""
    g = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    centroids = [x[torch.randint(n, (1,), generator=g)].squeeze(0)]
    d2 = ((x - centroids[0]) ** 2).sum(1)
    for _ in range(1, k):
        idx = torch.multinomial(d2 / d2.sum(), 1, generator=g)
        centroids.append(x[idx].squeeze(0))
        d2 = torch.minimum(d2, ((x - centroids[-1]) ** 2).sum(1))
    c = torch.stack(centroids)
    labels = None
    for it in range(iters):
        dist = torch.cdist(x, c)
        new_labels = dist.argmin(1)
        if labels is not None and torch.equal(new_labels, labels):
            break
        labels = new_labels
        sums = torch.zeros_like(c).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)
        empty = counts == 0
        c = torch.where(empty[:, None], c, sums / counts.clamp(min=1)[:, None])
        if empty.any():  # re-seed empty clusters at the worst-fitted frames
            worst = dist.gather(1, labels[:, None]).squeeze(1).topk(int(empty.sum())).indices
            c[empty] = x[worst]
    dist = torch.cdist(x, c)
    labels = dist.argmin(1)
    inertia = dist.gather(1, labels[:, None]).pow(2).mean().item()
    return c, labels, inertia


def dump_compact(obj):
    """JSON with one line per answer (the unit lists stay on one line each)."""
    head = {k: v for k, v in obj.items() if k != "intents"}
    lines = json.dumps(head, indent=1)[:-2] + ',\n "intents": [\n'
    lines += ",\n".join("  " + json.dumps(a) for a in obj["intents"])
    return lines + "\n ]\n}\n"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--answer-weight", type=int, default=4, help="answer frames counted this many times in k-means")
    ap.add_argument("--smoke", action="store_true", help="3 answers, 16 units: seconds, for CI")
    ap.add_argument("--work", default=None, help="default demo-model/work (smoke: demo-model/work/smoke)")
    ap.add_argument("--no-copy", action="store_true", help="do not copy units.json into checkpoint/")
    args = ap.parse_args(argv)
    if args.work is None:
        args.work = os.path.join(vc.WORK, "smoke") if args.smoke else vc.WORK
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    t0 = time.time()
    intents = vc.load_intents()
    espeak = vc.bot_voice_args(intents)
    items = intents["intents"][:3] if args.smoke else intents["intents"]
    k = 16 if args.smoke else args.units
    # utterances: (kind, intent, text); answers first
    utts = [("answer", it["name"], it["answer"]) for it in items]
    if not args.smoke:
        utts += [("extra", it["name"], q) for it in items for q in it["train"]]
        utts += [("heldout", it["name"], q) for it in items for q in it["test"]]
    mel = vc.LogMel()
    audio, feats = [], []
    for kind, name, text in utts:
        wav = vc.trim_to_hop(vc.espeak_16k(text, espeak))
        audio.append(wav)
        with torch.no_grad():
            feats.append(mel(wav).T.contiguous())  # [T, 80]
    t_render = time.time() - t0
    fit = [f for (kind, _, _), f in zip(utts, feats) if kind != "heldout"]
    fit += [f for (kind, _, _), f in zip(utts, feats) if kind == "answer"] * (args.answer_weight - 1)
    x = torch.cat(fit)
    mean, std = x.mean(0), x.std(0).clamp(min=1e-3)
    centroids, _, inertia = kmeans((x - mean) / std, k, args.iters, args.seed)
    frame_units = [torch.cdist((f - mean) / std, centroids).argmin(1) for f in feats]
    t_total = time.time() - t0

    os.makedirs(os.path.join(args.work, "voice"), exist_ok=True)
    torch.save({"mean": mean, "std": std, "centroids": centroids, "units": k, "seed": args.seed},
               os.path.join(args.work, "voice", "kmeans.pt"))
    torch.save({"utts": utts, "audio": audio, "frame_units": frame_units},
               os.path.join(args.work, "voice", "data.pt"))
    answers = []
    for (kind, name, text), fu, wav in zip(utts, frame_units, audio):
        if kind != "answer":
            continue
        units, durations = vc.collapse(fu.tolist())
        answers.append({"name": name, "answer": text, "units": units, "durations": durations,
                        "frames": int(fu.numel()), "samples": int(wav.numel())})
    used = torch.unique(torch.cat([torch.tensor(a["units"]) for a in answers])).numel()
    out = {
        "description": "Speech units of the bot's answers (voice stage, demo-model/train/voice_units.py): k-means "
                       "over 80-bin log-mel at 50 Hz (hop 320 at 16 kHz) of the answers in the bot voice, "
                       "consecutive repeats merged; durations in 20 ms frames. The CTC unit decoder predicts "
                       "`units` (blank = num_units, as in LLaMA-Omni); the vocoder inverts them.",
        "num_units": k, "sample_rate": vc.SAMPLE_RATE, "hop": vc.HOP, "seed": args.seed,
        "bot_voice": "espeak-ng " + " ".join(espeak),
        "intents": answers,
    }
    path = os.path.join(args.work, "units.json")
    with open(path, "w") as f:
        f.write(dump_compact(out))
    if not args.smoke and not args.no_copy:
        os.makedirs(vc.CHECKPOINT, exist_ok=True)
        shutil.copyfile(path, os.path.join(vc.CHECKPOINT, "units.json"))
    secs = sum(a["samples"] for a in answers) / vc.SAMPLE_RATE
    n_units = [len(a["units"]) for a in answers]
    print(f"utterances={len(utts)} answer_seconds={secs:.1f} fit_frames={x.shape[0]} units={k} "
          f"answer_units_used={used} units_per_answer={min(n_units)}..{max(n_units)} "
          f"inertia={inertia:.3f} render_s={t_render:.1f} total_s={t_total:.1f}")


if __name__ == "__main__":
    main()
