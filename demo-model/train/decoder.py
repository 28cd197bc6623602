"""Stage 3b: the Whisper decoder again, deeper, on the frozen encoder (issue 12, caller transcripts).

asr.py trains the encoder jointly with a one-block decoder. Session 15 measured that decoder as what sets the caller
WER: on the dev set it recalls a training sentence ("Which days of the week are you working?" -> "Which team won the
race?") while the encoder's own phoneme head reads the same audio at a phoneme error rate of 0.26-0.29. One block
has a single cross-attention, whose query knows only the tokens before it through one self-attention: too little to
keep its place in the audio. This stage keeps the encoder (and so the adaptor, LLM and CTC stages trained on its
outputs) exactly as asr.py left it and trains a new decoder of DEMO_DEC_LAYERS blocks from scratch on the encoder's
outputs, computed once and kept (the clean features plus DEMO_DEC_COPIES perturbed copies of each training
utterance, perturb() of asr.py): a step is then the decoder alone, ~20x cheaper than asr.py's.

Reads work/asr.pt and features.pt; writes work/asr.pt back (same encoder, the new decoder, dims["n_text_layer"]
changed; the runtime reads the block count from the file) after keeping asr.py's as asr_before_decoder.pt; reports
the caller WER on held-out and dev as asr.py does, before and after, in work/decoder_result.json."""
import json
import os
import random
import shutil
import sys
import time

import torch
import torch.nn.functional as F

import asr as A
import bpe as B
import common as C

LAYERS = int(os.environ.get("DEMO_DEC_LAYERS", "3"))
STEPS = int(os.environ.get("DEMO_DEC_STEPS", "4000"))
BATCH = int(os.environ.get("DEMO_DEC_BATCH", "48"))
LR = float(os.environ.get("DEMO_DEC_LR", "1e-3"))
COPIES = int(os.environ.get("DEMO_DEC_COPIES", "1"))  # perturbed encoder outputs per training utterance
# share of input text tokens replaced by random ones (targets kept): the decoder must read the audio, not its prefix
TOKEN_DROPOUT = float(os.environ.get("DEMO_DEC_TOKEN_DROPOUT", "0.15"))
LABEL_SMOOTHING = float(os.environ.get("DEMO_DEC_LABEL_SMOOTHING", "0.1"))
# share of a batch's encoder frames masked (spans of up to 4 frames, 80 ms): the audio itself noisier
FRAME_MASK = float(os.environ.get("DEMO_DEC_FRAME_MASK", "0.1"))
# the encoding pass and the training forward under CPU autocast in bfloat16 (session 31, as asr.py's DEMO_ASR_AMP):
# the products run in oneDNN's bfloat16 kernels, the decoder's weights, AdamW and the loss stay float32; the views are
# kept in float16 either way. 0 = float32 throughout (the recipe before session 31)
AMP = os.environ.get("DEMO_DEC_AMP", "1") == "1"
ENCODE_BATCH = 32


@torch.no_grad()
def encode_all(encoder, mels, indices, rnd, perturbed, amp=None):
    """fp16 encoder outputs [frames, d] per utterance, batched by length (encoder.eval(): same as the runtime)."""
    out = {}
    order = sorted(indices, key=lambda i: mels[i].shape[1])
    for k in range(0, len(order), ENCODE_BATCH):
        b = order[k:k + ENCODE_BATCH]
        ms = [A.perturb(mels[i].float(), rnd) if perturbed else mels[i].float() for i in b]
        x, lens = A.batch_mels(ms)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=AMP if amp is None else amp):
            xa, _ = encoder(x, lens)
        for j, i in enumerate(b):
            out[i] = xa[j, :int(lens[j]) // 2].to(torch.float16).clone()
    return out


def batch_states(states):
    n = max(s.shape[0] for s in states)
    x = torch.zeros(len(states), n, states[0].shape[1])
    mask = torch.zeros(len(states), n, dtype=torch.bool)
    for j, s in enumerate(states):
        x[j, :s.shape[0]] = s.float()
        mask[j, :s.shape[0]] = True
    return x, mask


def mask_frames(x, mask, rnd):
    if FRAME_MASK <= 0:
        return x
    x = x.clone()
    for j in range(x.shape[0]):
        t = int(mask[j].sum())
        for _ in range(int(t * FRAME_MASK / 2.5)):
            w = rnd.randint(1, 4)
            t0 = rnd.randint(0, max(0, t - w))
            x[j, t0:t0 + w] = 0.0
    return x


def main():
    C.setup()
    vb, bpe, sp, n_vocab = A.vocabularies()
    src = torch.load(os.path.join(C.WORK, "asr.pt"))
    dims = dict(src["dims"])
    old = C.Whisper(dims)
    old.load_state_dict(src["model"])
    old.eval()
    man, mels, train, held, dev = A.load_features(chain=True)  # with data.py's chain sentences
    if C.SMOKE:
        train, held, dev = train[:64], held[:2], dev[:2]
    texts = {i: A.transcript_ids(bpe, sp, man[i]["text"]) for i in train}

    rnd = random.Random(C.SEED + 4000)
    t0 = time.time()
    # the views depend only on the encoder, the features and the seed: kept for the next run of this stage
    cache = os.path.join(C.WORK, "decoder_views.pt")
    key = {"encoder": sum(float(v.double().sum()) for v in old.encoder.state_dict().values()), "n": len(train),
           "copies": COPIES, "seed": C.SEED, "amp": AMP}
    views = None
    if os.path.exists(cache):
        saved = torch.load(cache)
        if saved["key"] == key:
            views = saved["views"]
    if views is None:
        views = [encode_all(old.encoder, mels, train, rnd, False)]
        for _ in range(COPIES):
            views.append(encode_all(old.encoder, mels, train, rnd, True))
        if not C.SMOKE:
            torch.save({"key": key, "views": views}, cache)
    if C.SMOKE and AMP:  # the autocast encoding pass against float32 (session 31: 0.006 apart on 1,024 utterances)
        ref = encode_all(old.encoder, mels, train, None, False, amp=False)
        num = sum(float((views[0][i].float() - ref[i].float()).norm()) ** 2 for i in train) ** 0.5
        den = sum(float(ref[i].float().norm()) ** 2 for i in train) ** 0.5
        C.log("decoder", f"autocast views vs float32: relative difference {num / den:.4f} (tolerance 0.05)")
        if not num / den <= 0.05:
            raise SystemExit(f"the bfloat16 encoding pass is {num / den:.4f} away from float32's (tolerance 0.05)")
    rnd = random.Random(C.SEED + 4001)  # the training stream: the same batches whether the views were cached or not
    encode_s = time.time() - t0
    C.log("decoder", f"encoder outputs of {len(train)} utterances x {len(views)} views in {encode_s:.0f} s")

    new_dims = dict(dims, n_text_layer=LAYERS)
    model = C.Whisper(new_dims)
    model.encoder.load_state_dict(old.encoder.state_dict())
    dec = model.decoder
    if os.environ.get("DEMO_DEC_INIT"):  # continue an earlier run's decoder (an asr.pt of the same depth)
        init = torch.load(os.environ["DEMO_DEC_INIT"])
        dec.load_state_dict({k[len("decoder."):]: v for k, v in init["model"].items() if k.startswith("decoder.")})
        C.log("decoder", f"decoder continued from {os.environ['DEMO_DEC_INIT']}")
    params = list(dec.parameters())
    steps = 3 if C.SMOKE else STEPS
    opt, sched = A.adamw_warm_cosine(params, LR, steps, min(200, steps // 5 + 1))
    C.log("decoder", f"decoder {LAYERS} blocks, {C.count(dec)} params (was {C.count(old.decoder)}); {steps} steps "
                     f"of {BATCH}, token dropout {TOKEN_DROPOUT}, label smoothing {LABEL_SMOOTHING}, "
                     f"frame mask {FRAME_MASK}")
    t1 = time.time()
    dec.train()
    order = list(train)
    step = 0
    while step < steps:
        rnd.shuffle(order)
        for k in range(0, len(order) - BATCH + 1, BATCH):
            if step >= steps:
                break
            b = order[k:k + BATCH]
            xa, mask = batch_states([views[rnd.randrange(len(views))][i] for i in b])
            xa = mask_frames(xa, mask, rnd)
            tok, tgt, text_part = A.teacher_forced([texts[i] for i in b], sp)
            if TOKEN_DROPOUT > 0:
                hit = text_part & (torch.rand(tok.shape) < TOKEN_DROPOUT)
                tok = tok.masked_scatter(hit, torch.randint(0, vb["n_base"], (int(hit.sum()),)))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=AMP):
                logits = dec(tok, xa, mask)
            loss = F.cross_entropy(logits.float().reshape(-1, n_vocab), tgt.reshape(-1), ignore_index=-100,
                                   label_smoothing=LABEL_SMOOTHING)
            A.update(opt, sched, params, loss)
            step += 1
            if step % 50 == 0 or step == steps or C.SMOKE:
                C.log("decoder", f"step {step}/{steps} loss {loss.item():.3f} ({time.time() - t1:.0f} s)")
    train_s = time.time() - t1
    model.eval()

    def caller_wer(whisper, indices):
        errs = words = 0
        samples = []
        for i in indices:
            hyp = bpe.decode(A.transcribe(whisper, mels[i], sp, 6 if C.SMOKE else 40)).strip()
            e, n = A.wer(man[i]["text"], hyp)
            errs += e
            words += n
            if len(samples) < 6:
                samples.append(f"{man[i]['text']} | {hyp}")
        return {"caller_text_wer": round(errs / max(1, words), 4), "utterances": len(indices), "samples": samples}

    result = {"layers": LAYERS, "steps": steps, "batch": BATCH, "copies": COPIES, "token_dropout": TOKEN_DROPOUT,
              "label_smoothing": LABEL_SMOOTHING, "frame_mask": FRAME_MASK, "encode_seconds": round(encode_s),
              "train_seconds": round(train_s), "decoder_params": C.count(dec),
              "before": {"heldout": caller_wer(old, held), "dev": caller_wer(old, dev)},
              "after": {"heldout": caller_wer(model, held), "dev": caller_wer(model, dev)}}
    out = os.path.join(C.WORK, "asr.pt")
    before = os.path.join(C.WORK, "asr_before_decoder.pt")  # asr.py's own (one-block decoder), kept once
    if dims["n_text_layer"] != LAYERS or not os.path.exists(before):
        shutil.copyfile(out, before)
    # written beside it, then swapped in: train.sh's LLM and CTC stages read asr.pt (the same encoder) meanwhile
    torch.save(dict(src, dims=new_dims, specials=sp, model=model.state_dict(), decoder_seconds=train_s), out + ".tmp")
    os.replace(out + ".tmp", out)
    C.log("decoder", json.dumps({k: v for k, v in result.items() if k not in ("before", "after")}))
    for when in ("before", "after"):
        for split in ("heldout", "dev"):
            r = result[when][split]
            C.log("decoder", f"{when} {split}: caller WER {r['caller_text_wer']}; " + " || ".join(r["samples"][:3]))
    with open(os.path.join(C.WORK, "decoder_result.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
