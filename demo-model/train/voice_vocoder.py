"""Voice stage, step 2: train the CodeHiFiGAN unit vocoder (generator + duration predictor) from scratch.

Input: work/voice/data.pt from voice_units.py (bot-voice audio of the answers and of the training questions,
frame-level units). Generator: teacher-forced frame units -> waveform, loss = log-mel L1 + multi-resolution
STFT (spectral convergence + log magnitude); after --gan-after minutes also least-squares adversarial + feature
matching against voice_gan.py's period and waveform discriminators (the spectral losses weighted --spec-weight).
Duration predictor: MSE on log(1 + duration) of the collapsed units (the inverse of fairseq's clamp(round(exp(x) - 1), 1)). The answers are sampled half the
time (the bot only ever says them); the held-out questions are never trained on. Runs for a wall-clock budget,
checkpointing every few minutes to work/voice/vocoder.pt (resumed unless --fresh).

usage: /usr/bin/python3 demo-model/train/voice_vocoder.py [--minutes 35] [--gan-after MIN] [--seed 1234] [--fresh]
                                                         [--smoke]
"""
import argparse
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F
import torchaudio

import voice_common as vc
import voice_gan as vg
import voice_model as vm


class Losses(torch.nn.Module):
    def __init__(self, telephone_weight=0.0):
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=vc.SAMPLE_RATE, n_fft=1024, hop_length=256, n_mels=80, f_min=0.0, f_max=8000.0, power=1.0,
            norm="slaney", mel_scale="slaney")
        # the band a caller hears after the bridge's 16 -> 8 kHz low-pass (3.6 kHz) and G.711: a second log-mel L1 on
        # 300-3600 Hz only, added with this weight, so the small generator spends its capacity where the call is heard
        self.telephone_weight = telephone_weight
        self.tel = torchaudio.transforms.MelSpectrogram(
            sample_rate=vc.SAMPLE_RATE, n_fft=1024, hop_length=256, n_mels=48, f_min=300.0, f_max=3600.0, power=1.0,
            norm="slaney", mel_scale="slaney")
        self.resolutions = [(256, 64), (512, 128), (1024, 256)]
        for n, _ in self.resolutions:
            self.register_buffer(f"win{n}", torch.hann_window(n))

    def forward(self, y_hat, y):
        mel = F.l1_loss(torch.log(self.mel(y_hat).clamp(min=1e-5)), torch.log(self.mel(y).clamp(min=1e-5)))
        if self.telephone_weight > 0:
            mel = mel + self.telephone_weight * F.l1_loss(torch.log(self.tel(y_hat).clamp(min=1e-5)),
                                                          torch.log(self.tel(y).clamp(min=1e-5)))
        sc = mag = 0.0
        for n, hop in self.resolutions:
            w = getattr(self, f"win{n}")
            s_hat = torch.stft(y_hat, n, hop, window=w, return_complex=True).abs().clamp(min=1e-7)
            s = torch.stft(y, n, hop, window=w, return_complex=True).abs().clamp(min=1e-7)
            sc = sc + torch.norm(s - s_hat, p="fro") / torch.norm(s, p="fro")
            mag = mag + F.l1_loss(torch.log(s_hat), torch.log(s))
        k = len(self.resolutions)
        return mel, sc / k, mag / k


def load_data(work):
    d = torch.load(os.path.join(work, "voice", "data.pt"))
    utts = []
    for (kind, name, text), wav, fu in zip(d["utts"], d["audio"], d["frame_units"]):
        units, durs = vc.collapse(fu.tolist())
        utts.append({"kind": kind, "name": name, "text": text, "audio": wav, "frames": fu,
                     "units": torch.tensor(units), "durations": torch.tensor(durs)})
    return utts


def sample_segments(rng, answers, extras, batch, frames, answer_share):
    units, audio = [], []
    for _ in range(batch):
        pool = answers if (not extras or rng.random() < answer_share) else extras
        u = rng.choice(pool)
        start = rng.randrange(0, u["frames"].numel() - frames + 1)
        units.append(u["frames"][start:start + frames])
        audio.append(u["audio"][start * vc.HOP:(start + frames) * vc.HOP])
    return torch.stack(units), torch.stack(audio)


def duration_batch(rng, pool, batch):
    chosen = [rng.choice(pool) for _ in range(batch)]
    n = max(u["units"].numel() for u in chosen)
    units = torch.zeros(batch, n, dtype=torch.long)
    target = torch.zeros(batch, n)
    mask = torch.zeros(batch, n)
    for i, u in enumerate(chosen):
        L = u["units"].numel()
        units[i, :L] = u["units"]
        target[i, :L] = torch.log1p(u["durations"].float())
        mask[i, :L] = 1
    return units, target, mask


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=35.0, help="wall-clock training budget")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--kernels", default="3", help="resblock kernel sizes (dilations 1,3,5 each)")
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--frames", type=int, default=24, help="segment length in 20 ms frames")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1, help="1: under a loaded machine 2 threads ran 10x slower")
    ap.add_argument("--answer-share", type=float, default=0.75, help="share of segments cut from the answers")
    ap.add_argument("--save-every", type=float, default=180.0, help="seconds between checkpoints")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--gan-after", type=float, default=-1.0,
                    help="minutes of training (resumed time included) after which the discriminators join; <0: never")
    ap.add_argument("--spec-weight", type=float, default=20.0, help="weight of the spectral losses in the GAN phase")
    ap.add_argument("--fm-weight", type=float, default=2.0, help="weight of feature matching in the GAN phase")
    ap.add_argument("--smoke", action="store_true", help="3 steps of a tiny vocoder on the smoke data, for CI")
    ap.add_argument("--work", default=None)
    ap.add_argument("--telephone-weight", type=float, default=0.0,
                    help="weight of an extra log-mel L1 on the telephone band (300-3600 Hz); 0 = off")
    args = ap.parse_args(argv)
    if args.work is None:
        args.work = os.path.join(vc.WORK, "smoke") if args.smoke else vc.WORK
    if args.smoke:
        args.channels, args.kernels, args.batch, args.frames = 32, "3", 2, 8
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    utts = load_data(args.work)
    with open(os.path.join(args.work, "units.json")) as f:
        num_units = json.load(f)["num_units"]
    answers = [u for u in utts if u["kind"] == "answer" and u["frames"].numel() >= args.frames]
    extras = [u for u in utts if u["kind"] == "extra" and u["frames"].numel() >= args.frames]
    trainable = [u for u in utts if u["kind"] != "heldout"]
    kernels = [int(k) for k in args.kernels.split(",")]
    cfg = vm.default_config(num_units=num_units, channels=args.channels)
    cfg["resblock_kernel_sizes"] = kernels
    cfg["resblock_dilation_sizes"] = [[1, 3, 5]] * len(kernels)
    model = vm.CodeHiFiGAN(cfg)
    # start the unit embedding at the k-means centroids (standardised log-mel, first 80 dims): conv_pre then
    # sees a spectrogram-like input from the first step, which speeds up learning a lot on this budget
    km = torch.load(os.path.join(args.work, "voice", "kmeans.pt"))
    with torch.no_grad():
        model.dict.weight.normal_(0.0, 0.1)
        d = min(km["centroids"].shape[1], cfg["embedding_dim"])
        model.dict.weight[:, :d] = km["centroids"][:, :d]
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.8, 0.99), weight_decay=0.0)
    losses = Losses(args.telephone_weight)
    path = os.path.join(args.work, "voice", "vocoder.pt")
    step, spent, log = 0, 0.0, []
    disc, opt_d = vg.Discriminators(), None
    disc_state = None
    if os.path.exists(path) and not args.fresh and not args.smoke:
        ck = torch.load(path)
        if ck["cfg"] == cfg:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["opt"])
            step, spent, log = ck["step"], ck["spent"], ck["log"]
            rng.setstate(ck["rng"])
            disc_state = ck.get("disc")
            print(f"resumed at step {step}, {spent / 60:.1f} min spent"
                  f"{' (with discriminators)' if disc_state else ''}", flush=True)

    def gan_on():
        nonlocal opt_d
        if opt_d is None:
            opt_d = torch.optim.AdamW(disc.parameters(), lr=args.lr, betas=(0.8, 0.99), weight_decay=0.0)
            if disc_state:
                disc.load_state_dict(disc_state["model"])
                opt_d.load_state_dict(disc_state["opt"])
            print(f"discriminators join at step {step}: {sum(p.numel() for p in disc.parameters())} params",
                  flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params={n_params} cfg={json.dumps(cfg)} answers={len(answers)} extras={len(extras)}", flush=True)
    budget = 60.0 if args.smoke else args.minutes * 60.0

    def save():
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "spent": spent,
                    "log": log, "cfg": cfg, "rng": rng.getstate(), "params": n_params, "args": vars(args),
                    "disc": {"model": disc.state_dict(), "opt": opt_d.state_dict()} if opt_d else disc_state},
                   path + ".tmp")
        os.replace(path + ".tmp", path)

    t_start = time.time() - spent
    last_save = time.time()
    acc = []
    while True:
        spent = time.time() - t_start
        if (args.smoke and step >= 3) or (not args.smoke and spent >= budget):
            break
        frac = min(1.0, spent / budget)
        lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        gan = args.gan_after >= 0 and (spent >= args.gan_after * 60.0 or (args.smoke and step >= 1))
        if gan:
            gan_on()
        for g in opt.param_groups + (opt_d.param_groups if opt_d else []):
            g["lr"] = lr
        model.train()
        units, audio = sample_segments(rng, answers, extras, args.batch, args.frames, args.answer_share)
        y_hat = model.generate(units)
        mel, sc, mag = losses(y_hat, audio)
        du, dt, dm = duration_batch(rng, trainable, 8)
        dur = (((model.log_durations(du) - dt) ** 2) * dm).sum() / dm.sum()
        adv = fm = d_loss = torch.zeros(())
        if gan:
            # discriminators first, on the generated audio detached; then the generator against them
            d_loss = vg.discriminator_loss(disc(audio), disc(y_hat.detach()))
            opt_d.zero_grad()
            d_loss.backward()
            torch.nn.utils.clip_grad_norm_(disc.parameters(), 10.0)
            opt_d.step()
            with torch.no_grad():
                real = disc(audio)
            adv, fm = vg.generator_losses(real, disc(y_hat))
            loss = args.spec_weight * (mel + sc + mag + dur) + adv + args.fm_weight * fm
        else:
            loss = mel + sc + mag + dur
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        step += 1
        acc.append([mel.item(), sc.item(), mag.item(), dur.item(), adv.item(), fm.item(), d_loss.item()])
        if step % 10 == 0 or args.smoke:
            m = torch.tensor(acc).mean(0).tolist()
            acc = []
            entry = {"step": step, "min": round(spent / 60, 2), "mel": round(m[0], 4), "sc": round(m[1], 4),
                     "mag": round(m[2], 4), "dur": round(m[3], 4), "lr": round(lr, 6),
                     **({"adv": round(m[4], 4), "fm": round(m[5], 4), "d": round(m[6], 4)} if gan else {}),
                     "load": round(os.getloadavg()[0], 1)}
            log.append(entry)
            print(json.dumps(entry), flush=True)
        if time.time() - last_save > args.save_every:
            save()
            last_save = time.time()
    spent = time.time() - t_start
    save()
    print(f"done steps={step} minutes={spent / 60:.1f} params={n_params} checkpoint={path}", flush=True)


if __name__ == "__main__":
    main()
