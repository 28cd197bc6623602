"""Stage 3: the Whisper-style encoder trained jointly with a small Whisper decoder (caller transcription,
issue 11) on the training callers' questions; an auxiliary intent head on the mean-pooled encoder output
(not exported) makes the intent plain in the encoder states the LLM reads later, and an auxiliary CTC head over
the phonemes espeak-ng spoke (not exported) makes the encoder hear sounds rather than memorise sentences. Writes work/asr.pt and
reports the caller-text WER on the held-out voices + questions (greedy, the runtime's prompt)."""
import json
import math
import os
import random
import re
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import bpe as B
import common as C

D_AUDIO = int(os.environ.get("DEMO_ASR_DIM", "160"))
AUDIO_HEADS = 4
AUDIO_LAYERS = int(os.environ.get("DEMO_ASR_LAYERS", "4"))
# decoder blocks: 1 in the recipe; 3 to continue (DEMO_ASR_INIT) a checkpoint whose decoder has 3 (decoder.py, session 16)
TEXT_LAYERS = int(os.environ.get("DEMO_ASR_TEXT_LAYERS", "1"))
N_TEXT_CTX = 448
N_LANGUAGES = 100  # large-v3's language tokens
STEPS = int(os.environ.get("DEMO_ASR_STEPS", "3000"))
BATCH = 32
POOL_BATCHES = int(os.environ.get("DEMO_ASR_POOL_BATCHES", "8"))  # length-sorted within pools of 8 random batches
LR = float(os.environ.get("DEMO_ASR_LR", "1e-3"))
POSITION_SCALE = 0.1
PERTURB = float(os.environ.get("DEMO_ASR_PERTURB", "0.8"))  # share of training utterances warped (perturb())
# perturb()'s vocal-tract factor range: the held-out female variants (anika, f5) were the worst at 0.88-1.12
WARP = tuple(float(v) for v in os.environ.get("DEMO_ASR_WARP", "0.8,1.25").split(","))
# share of training utterances given a random telephone-channel equaliser (channel_eq()); 0 = off
EQ = float(os.environ.get("DEMO_ASR_EQ", "0"))
CONV_GAIN = float(os.environ.get("DEMO_ASR_CONV_GAIN", "5"))
CTC_WEIGHT = float(os.environ.get("DEMO_ASR_CTC_WEIGHT", "1.0"))  # phoneme CTC beside the text and intent losses
# the auxiliary intent loss on the mean-pooled encoder output (0 = off: it pays for telling sentences apart by intent,
# not for reading words; session 15 measures it on the dev set)
INTENT_WEIGHT = float(os.environ.get("DEMO_ASR_INTENT_WEIGHT", "1.0"))
# decoder-only fine-tune (continuing DEMO_ASR_INIT): the encoder and its auxiliary heads stay frozen, so the LLM and
# the CTC stage trained on that encoder's outputs stay valid and only the caller transcript changes
DECODER_ONLY = os.environ.get("DEMO_ASR_DECODER_ONLY", "0") == "1"
# share of the decoder's input text tokens (after the prompt) replaced by random base-vocabulary tokens while the
# targets stay: the decoder must read the audio instead of recalling a training sentence from its own prefix
TOKEN_DROPOUT = float(os.environ.get("DEMO_ASR_TOKEN_DROPOUT", "0"))
# training processes (C.run_ranks): each takes 1/PROCS of every batch's rows on its own core and the gradients are
# summed, so 2 make the same updates as 1 in about half the time on this 2-core box when the other core is free
PROCS = int(os.environ.get("DEMO_ASR_PROCS", "1"))
# the frame-level phoneme loss (session 20): every encoder frame classified as the phoneme espeak-ng was saying
# there (data.py's .align, espeak_align.py), beside the phoneme CTC; 0 = off (the recipe before session 20). Why:
# after 3000 steps without it the phoneme CTC head read the training utterances themselves at a phoneme error rate
# of 0.23 (held-out 0.28): the encoder was under-trained on sounds. With it: dev phoneme error rate 0.33 -> 0.26,
# caller-text WER through Java 0.853 -> 0.816 (held-out 0.690 -> 0.637); the LLM's dev replies did not move
FRAME_WEIGHT = float(os.environ.get("DEMO_ASR_FRAME_WEIGHT", "1"))
# data.py's chain sentences (walks over the training text's words, never a training sentence; session 23) in this
# stage too, not only in stage 3b's decoder: the encoder hears the domain's words in orders no training sentence has.
# 0 = the recipe (the encoder reads the training utterances and the ASR-only word strings)
CHAIN = os.environ.get("DEMO_ASR_CHAIN", "0") == "1"
# the auxiliary heads' learning rate when they start fresh on a continued encoder (DEMO_ASR_INIT without them: a
# fresh phoneme CTC head at 5e-4 had not learnt after 2000 steps in session 22); default: DEMO_ASR_LR
HEAD_LR = float(os.environ.get("DEMO_ASR_HEAD_LR", "0")) or None
# the training forward under CPU autocast in bfloat16 (session 31): the matrix products and convolutions run in
# bfloat16 through oneDNN (this box's EPYC has AVX512-BF16: a 2400 x 160 x 640 product 93 -> 200 GFLOP/s), the
# weights, the optimiser and the losses stay float32; a step of 16 utterances of 3 s measured 415-434 -> 231-244 ms on
# one core. 0 = float32 throughout (the recipe before session 31). amp_check.py compares one step's gradients with
# the float32 ones (train.sh --smoke runs it); evaluation and every later stage's encoding stay float32
AMP = os.environ.get("DEMO_ASR_AMP", "1") == "1"
SILENCE = ""  # the frame class of pauses and of the silence around the speech
STRESS = "\u02c8\u02cc"  # espeak-ng's primary/secondary stress marks: not sounds of their own


def phoneme_symbols(ipa):
    """one CTC symbol per IPA character (length marks and affricate halves included), a space between words."""
    return [ch for ch in ipa if ch not in STRESS]


def frame_labels(align, n_frames, frame_id):
    """the frame class (frame_id) of each of n_frames log-mel frames (10 ms apart, frame k centred at k x 10 ms) from
    an utterance's .align: the phoneme whose start is the last at or before the frame's time, the silence before the
    first and after the end; -100 (no target) for a phoneme outside frame_id, and everywhere without an alignment."""
    if not align:
        return torch.full((n_frames,), -100, dtype=torch.long)
    t = torch.arange(n_frames, dtype=torch.float64) * (C.HOP / C.SAMPLE_RATE)
    starts = torch.tensor(align["start"], dtype=torch.float64)
    ids = torch.tensor([frame_id.get(p, -100) for p in align["phoneme"]] + [frame_id[SILENCE]], dtype=torch.long)
    k = torch.searchsorted(starts, t, right=True) - 1  # -1: before the first start
    k[t >= align["end"]] = len(starts)  # after the speech: the silence appended above
    k[k < 0] = len(starts)
    return ids[k]


def encoder_frame_labels(labels, n_mel):
    """labels (per log-mel frame of the unaugmented utterance) for its augmented copy of n_mel frames (perturb()
    stretches time) and then per encoder frame (conv2's stride 2: encoder frame j is centred on log-mel frame 2j)."""
    idx = (torch.arange(n_mel) * labels.shape[0]) // n_mel
    return labels[idx][0::2]


def whisper_specials(n_base):
    """whisper's special tokens after the base ranks, in whisper's order (tokenizer.py get_encoding)."""
    names = ["<|endoftext|>", "<|startoftranscript|>"] + [f"<|lang{i}|>" for i in range(N_LANGUAGES)]
    names[2] = "<|en|>"
    names += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
              "<|notimestamps|>"]
    names += [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    return {n: n_base + i for i, n in enumerate(names)}, n_base + len(names)


def normalize(text):
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def wer(ref, hyp):
    r = normalize(ref)
    return C.edit_distance(r, normalize(hyp)), len(r)


def perturb(mel, rnd):
    """speaker and tempo perturbation on the log-mel: the frequency axis warped by WARP (0.8-1.25; a longer or shorter
    vocal tract moves every formant by one factor) and the time axis stretched by 0.85-1.15 (rounded to whole
    adaptor rows): the held-out voices were the larger part of the held-out error without it."""
    n, t = mel.shape
    f = rnd.uniform(*WARP)
    pos = torch.clamp(torch.arange(n, dtype=torch.float32) / f, max=n - 1)
    lo = pos.floor().long()
    hi = torch.clamp(lo + 1, max=n - 1)
    w = (pos - lo.float())[:, None]
    mel = mel[lo] * (1 - w) + mel[hi] * w
    t2 = max(10, int(round(t * rnd.uniform(0.85, 1.15) / 10)) * 10)
    return F.interpolate(mel[None], size=t2, mode="linear", align_corners=False)[0]


def channel_eq(mel, rnd):
    """a random handset/line equaliser on the log-mel: a spectral tilt of -18..+6 dB across the telephone band (mel
    bins 8-80, ~250-3700 Hz) and one or two resonances or notches (-12..+6 dB, 2-12 bins wide), normalised to cut
    only (a gain at or under 0 dB everywhere), then Whisper's floor (8 in log10 = 2 in these units) re-applied to the
    new maximum. A cut in power of g dB moves a bin by g/40 here ((log10 + 4) / 4). Why: the held-out variants that
    stay hardest (anika, whose espeak-ng `tone` table drops the voice 20 dB above 1.2 kHz; f5, breathy with echo)
    differ from the training voices in their spectral envelope more than in vocal-tract length (perturb()'s warp
    did not help them), and real handsets and lines colour the band the same way."""
    n = mel.shape[0]
    k = torch.arange(n, dtype=torch.float32)
    band = torch.clamp((k - 8) / 72, 0, 1)
    gain = rnd.uniform(-18, 6) * band
    for _ in range(rnd.randint(1, 2)):
        centre, width, g = rnd.uniform(8, 80), rnd.uniform(2, 12), rnd.uniform(-12, 6)
        gain = gain + g * torch.exp(-0.5 * ((k - centre) / width) ** 2)
    gain = gain - gain.max()
    mel = mel + (gain / 40.0)[:, None]
    return torch.maximum(mel, mel.max() - 2.0)


def augment(mel, rnd, eq_rnd):
    """perturb() for PERTURB of the utterances, then channel_eq() for EQ of them, drawn from a stream of its own
    (eq_rnd), so the batches and the other augmentations are the same with or without it (an A/B on one recipe)."""
    if rnd.random() < PERTURB:
        mel = perturb(mel, rnd)
    if EQ > 0 and eq_rnd.random() < EQ:
        mel = channel_eq(mel, eq_rnd)
    return mel


def spec_augment(mel, rnd):
    mel = mel.clone()
    for _ in range(2):
        f = rnd.randint(0, 12)
        f0 = rnd.randint(0, C.N_MELS - f)
        mel[f0:f0 + f, :] = 0.0
    t = mel.shape[1]
    for _ in range(2):
        w = rnd.randint(0, max(1, t // 12))
        t0 = rnd.randint(0, max(0, t - w))
        mel[:, t0:t0 + w] = 0.0
    return mel


def grow_encoder(model, state):
    """DEMO_ASR_LAYERS above the earlier run's encoder depth: the earlier blocks keep their weights and the new ones go
    on top as identity blocks (their attention output and second MLP projection start at zero, so the residual stream,
    and every head trained on it, is unchanged at step 0); returns the number of blocks added."""
    have = len({k.split(".")[2] for k in state if k.startswith("encoder.blocks.")})
    want = len(model.encoder.blocks)
    if want <= have:
        return 0
    with torch.no_grad():
        for b in model.encoder.blocks[have:]:
            for lin in (b.attn.out, b.mlp[2]):
                lin.weight.zero_()
                lin.bias.zero_()
    missing = [k for k in model.state_dict() if k not in state]
    assert all(k.startswith("encoder.blocks.") and int(k.split(".")[2]) >= have for k in missing), missing[:5]
    for k in missing:  # the identity blocks' own (fresh) weights stand in for the earlier run's
        state[k] = model.state_dict()[k]
    C.log("asr", f"encoder grown from {have} to {want} blocks (new blocks start as identity)")
    return want - have


def batch_mels(mels):
    n = max(m.shape[1] for m in mels)
    x = torch.zeros(len(mels), C.N_MELS, n)
    for i, m in enumerate(mels):
        x[i, :, :m.shape[1]] = m.float()
    return x, torch.tensor([m.shape[1] for m in mels])


def adamw_warm_cosine(params, lr, steps, warm):
    """AdamW (weight decay 0.01) with the learning rate rising linearly over `warm` steps, then a cosine to 0 at
    `steps`."""
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, steps)))))
    return opt, sched


def update(opt, sched, params, loss):
    """one optimiser step on loss: gradients clipped to norm 1, then the schedule's next step."""
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    sched.step()


def vocabularies():
    """bpe.json as written by bpe.py, its BPE, and whisper's special tokens after its base ranks (ids, vocabulary
    size)."""
    with open(os.path.join(C.WORK, "bpe.json")) as f:
        vb = json.load(f)
    sp, n_vocab = whisper_specials(vb["n_base"])
    return vb, B.Bpe(vb["merges"]), sp, n_vocab


def load_features(chain=False):
    """features.pt's manifest and log-mels, and the indices of the training (with the ASR-only word strings, and with
    data.py's chain sentences when `chain`: stage 3b's, not this stage's), held-out and dev utterances (dev: never
    trained on, for tuning the recipe)."""
    data = torch.load(os.path.join(C.WORK, "features.pt"))
    man, mels = data["manifest"], data["mel"]
    splits = ("train", "asr_extra", "asr_chain") if chain else ("train", "asr_extra")
    train = [i for i, m in enumerate(man) if m["split"] in splits]
    held = [i for i, m in enumerate(man) if m["split"] == "heldout"]
    dev = [i for i, m in enumerate(man) if m["split"] == "dev"]
    return man, mels, train, held, dev


def transcript_prompt(sp):
    """the runtime's transcription prompt."""
    return [sp["<|startoftranscript|>"], sp["<|en|>"], sp["<|transcribe|>"], sp["<|notimestamps|>"]]


def transcript_ids(bpe, sp, text):
    """the prompt, the text with a leading space as whisper's, end of text."""
    return transcript_prompt(sp) + bpe.encode(" " + text.strip()) + [sp["<|endoftext|>"]]


def teacher_forced(seqs, sp):
    """a batch of transcript_ids sequences as the decoder's inputs (padded with end of text), its targets (-100 where
    nothing is predicted) and the text positions (after the prompt, before the last token: where random input tokens
    may stand in)."""
    n_prompt = len(transcript_prompt(sp))
    n = max(len(s) for s in seqs)
    tok = torch.full((len(seqs), n), sp["<|endoftext|>"], dtype=torch.long)
    tgt = torch.full((len(seqs), n), -100, dtype=torch.long)
    text_part = torch.zeros((len(seqs), n), dtype=torch.bool)
    for j, s in enumerate(seqs):
        tok[j, :len(s)] = torch.tensor(s)
        tgt[j, :len(s) - 1] = torch.tensor(s[1:])
        tgt[j, 1:3] = -100  # <|transcribe|> <|notimestamps|> are given, not predicted
        text_part[j, n_prompt:len(s) - 1] = True
    return tok, tgt, text_part


@torch.no_grad()
def transcribe(model, mel, sp, max_tokens=40):
    xa, _ = model.encoder(mel[None].float())
    toks = transcript_prompt(sp)
    n_base = sp["<|endoftext|>"]
    out = []
    for _ in range(max_tokens):
        logits = model.decoder(torch.tensor([toks]), xa)[0, -1]
        logits[n_base + 1:] = float("-inf")  # the runtime suppresses special tokens other than end of text
        t = int(logits.argmax())
        if t == n_base:
            break
        out.append(t)
        toks.append(t)
    return out


class Batches:
    """The training batches, as every process of a run draws them: the same random stream as one process (shuffles,
    length pools, augmentation, token dropout), each batch's log-mels augmented and its teacher-forced text built
    whole, so that a process can take its share of the rows (C.Ranks.share) and still scale its losses by the whole
    batch's counts."""

    def __init__(self, man, mels, train, texts, phone_seq, sp, n_base, frames=None):
        self.man, self.mels, self.train, self.texts, self.phone_seq, self.sp, self.n_base = \
            man, mels, train, texts, phone_seq, sp, n_base
        self.frames = frames  # {utterance: frame_labels} with the frame-level phoneme loss, else None

    def __iter__(self):
        # random batches, bucketed only within a random pool of POOL_BATCHES batches: length buckets over the whole
        # set would put the renderings of one question (similar lengths) into one batch, leaving the intent and text
        # losses nothing to contrast; a pool of 256 random utterances out of ~19,000 (~1,200 distinct questions)
        # rarely holds two renderings of one, and sorting it by length cuts the padded frames a step computes (a
        # random batch of 32 pads to its longest utterance, about twice the mean)
        rnd = random.Random(C.SEED)
        eq_rnd = random.Random(C.SEED + 3000)
        order = list(self.train)
        mels = self.mels
        while True:
            rnd.shuffle(order)
            batches = []
            for p in range(0, len(order), BATCH * POOL_BATCHES):
                pool = sorted(order[p:p + BATCH * POOL_BATCHES], key=lambda i: mels[i].shape[1])
                batches += [pool[k:k + BATCH] for k in range(0, len(pool), BATCH)]
            rnd.shuffle(batches)
            for b in batches:
                aug = [spec_augment(augment(mels[i].float(), rnd, eq_rnd), rnd) for i in b]
                tok, tgt, text_part = teacher_forced([self.texts[i] for i in b], self.sp)
                if TOKEN_DROPOUT > 0:
                    noisy = tok.clone()
                    hit = text_part & (torch.rand(tok.shape, generator=torch.Generator().manual_seed(
                        rnd.randrange(1 << 30))) < TOKEN_DROPOUT)
                    noisy[hit] = torch.randint(0, self.n_base, (int(hit.sum()),))
                    tok = noisy
                frames = None if self.frames is None else \
                    [encoder_frame_labels(self.frames[i], a.shape[1]) for i, a in zip(b, aug)]
                yield b, aug, tok, tgt, frames


def batch_loss(model, heads, batches, b, aug, tok, tgt, frames, mine, amp):
    """the loss of this process's rows `mine` of batch b (the text, intent, phoneme-CTC and frame losses, each scaled
    by the whole batch's counts, so that the processes' sum is one process's loss on it) and its four parts as
    floats; the forward under bfloat16 autocast when amp (the losses themselves in float32)."""
    intent_head, ctc_head, frame_head = heads["intent_head"], heads["ctc_head"], heads.get("frame_head")
    n_vocab, n_phones = model.dims["n_vocab"], ctc_head.out_features - 1
    man, phone_seq = batches.man, batches.phone_seq
    n_frames = 1 if frames is None else max(1, sum(int((f != -100).sum()) for f in frames))
    n_tokens = max(1, int((tgt != -100).sum()))
    labels = torch.tensor([man[i]["intent_index"] for i in b])  # -1: ASR-only utterance
    n_labelled = max(1, int((labels >= 0).sum()))
    x, lens = batch_mels([aug[j] for j in mine])
    width = max(len(batches.texts[b[j]]) for j in mine)  # a causal decoder: later padding changes nothing
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        if DECODER_ONLY:
            with torch.no_grad():
                xa, mask = model.encoder(x, lens)
        else:
            xa, mask = model.encoder(x, lens)
        logits = model.decoder(tok[mine, :width], xa, mask)
        pooled = (xa * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        intent_logits = intent_head(pooled)
        ctc_logits = ctc_head(xa)
        frame_logits = frame_head(xa) if frame_head is not None and not DECODER_ONLY else None
    loss_text = F.cross_entropy(logits.float().reshape(-1, n_vocab), tgt[mine, :width].reshape(-1),
                                ignore_index=-100, reduction="sum") / n_tokens
    loss_int = F.cross_entropy(intent_logits.float(), labels[mine], ignore_index=-1, reduction="sum") / n_labelled
    logp = F.log_softmax(ctc_logits.float(), -1).transpose(0, 1)
    ctc_t = [torch.tensor(phone_seq[b[j]], dtype=torch.long) for j in mine]
    t_lens = torch.tensor([len(t) for t in ctc_t])
    # as ctc_loss's "mean": each utterance's loss over its target length, averaged over the whole batch
    loss_ctc = (F.ctc_loss(logp, torch.cat(ctc_t), mask.sum(1), t_lens, blank=n_phones, reduction="none",
                           zero_infinity=True) / t_lens.clamp(min=1)).sum() / len(b)
    loss = loss_text if DECODER_ONLY else loss_text + INTENT_WEIGHT * loss_int + CTC_WEIGHT * loss_ctc
    loss_frame = torch.zeros(())
    if frame_logits is not None:
        # each frame counts once over the whole batch (the padding and unaligned frames not at all)
        target = torch.full(xa.shape[:2], -100, dtype=torch.long)
        for r, j in enumerate(mine):
            target[r, :frames[j].shape[0]] = frames[j][:xa.shape[1]]
        loss_frame = F.cross_entropy(frame_logits.float().reshape(-1, frame_head.out_features), target.reshape(-1),
                                     ignore_index=-100, reduction="sum") / n_frames
        loss = loss + FRAME_WEIGHT * loss_frame
    return loss, [loss_text.item(), loss_int.item(), loss_ctc.item(), loss_frame.item()]


def train_steps(ranks, model, heads, batches, steps, out, extra):
    """steps optimiser steps of the encoder, the decoder and the auxiliary heads (the decoder alone with
    DEMO_ASR_DECODER_ONLY) on this process's share of every batch, the gradients summed over the processes
    (C.run_ranks); the first process writes out every 100 steps and at the end."""
    intent_head, ctc_head, frame_head = heads["intent_head"], heads["ctc_head"], heads.get("frame_head")
    if DECODER_ONLY:
        for p in list(model.encoder.parameters()) + list(intent_head.parameters()) + list(ctc_head.parameters()):
            p.requires_grad_(False)
        params = list(model.decoder.parameters())
    else:
        params = [p for m in (model, intent_head, ctc_head, frame_head) if m is not None for p in m.parameters()]
    groups = params
    if HEAD_LR and not DECODER_ONLY:
        head_params = {id(p) for m in (intent_head, ctc_head, frame_head) if m is not None for p in m.parameters()}
        groups = [{"params": [p for p in params if id(p) not in head_params]},
                  {"params": [p for p in params if id(p) in head_params], "lr": HEAD_LR}]
    opt, sched = adamw_warm_cosine(groups, LR, steps, min(100, steps // 5 + 1))

    def save(step):
        torch.save({**extra, "model": model.state_dict(), "step": step,
                    **{name: head.state_dict() for name, head in heads.items()}}, out)

    t0 = time.time()
    model.train()
    if DECODER_ONLY:
        model.encoder.eval()
    step = 0
    for b, aug, tok, tgt, frames in batches:
        if step >= steps:
            break
        mine = ranks.share(list(range(len(b))))
        opt.zero_grad()
        parts = [0.0, 0.0, 0.0, 0.0]
        if mine:
            loss, parts = batch_loss(model, heads, batches, b, aug, tok, tgt, frames, mine, AMP)
            loss.backward()
        text_l, int_l, ctc_l, frame_l = ranks.sum_grads(params, parts)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        step += 1
        if ranks.main and (step % 10 == 0 or step == steps or C.SMOKE):
            C.log("asr", f"step {step}/{steps} text loss {text_l:.3f} intent loss {int_l:.3f} ctc loss {ctc_l:.3f} "
                         + (f"frame loss {frame_l:.3f} " if frame_head is not None else "")
                         + f"({time.time() - t0:.0f} s)")
        if ranks.main and step % 100 == 0:
            # the heads too: a run stopped here can be continued (DEMO_ASR_INIT) and probed with its intent head
            save(step)
    ranks.check_same(params)
    if ranks.main:
        save(step)


def main():
    C.setup()
    vb, bpe, sp, n_vocab = vocabularies()
    man, mels, train, held, dev = load_features(chain=CHAIN)
    phones = sorted({ch for i in train for ch in phoneme_symbols(man[i].get("ipa", ""))})
    phone_id = {ch: k for k, ch in enumerate(phones)}
    phone_seq = {i: [phone_id[ch] for ch in phoneme_symbols(man[i].get("ipa", "")) if ch in phone_id]
                 for i in range(len(man))}
    texts = {i: transcript_ids(bpe, sp, man[i]["text"]) for i in range(len(man))}
    frame_classes = frame_id = frames = None
    if FRAME_WEIGHT > 0:
        frame_classes = [SILENCE] + sorted({p for i in train for p in man[i].get("align", {}).get("phoneme", ())}
                                           - {SILENCE})
        frame_id = {p: k for k, p in enumerate(frame_classes)}
        frames = {i: frame_labels(man[i].get("align"), mels[i].shape[1], frame_id) for i in range(len(man))}
        aligned = sum(1 for i in train if man[i].get("align"))
        if aligned == 0:
            raise SystemExit("DEMO_ASR_FRAME_WEIGHT needs data.py's .align files: run data.py again (it aligns the "
                             "utterances it rendered before, without rendering them again), then features.py")
    dims = {"n_mels": C.N_MELS, "n_vocab": n_vocab, "n_audio_ctx": 1500, "n_audio_state": D_AUDIO,
            "n_audio_head": AUDIO_HEADS, "n_audio_layer": AUDIO_LAYERS, "n_text_ctx": N_TEXT_CTX,
            "n_text_state": D_AUDIO, "n_text_head": AUDIO_HEADS, "n_text_layer": TEXT_LAYERS}
    model = C.Whisper(dims)
    n_intents = len(C.intents()["intents"])
    intent_head = nn.Linear(D_AUDIO, n_intents)
    ctc_head = nn.Linear(D_AUDIO, len(phones) + 1)  # phonemes + blank, auxiliary only
    # the encoder's positions are a fixed table that the file carries (the runtime adds what the file holds):
    # sinusoids at 0.1 so the audio outweighs them at the start of training
    model.encoder.positional_embedding.mul_(POSITION_SCALE)
    # the convolutions start with zero biases and CONV_GAIN x PyTorch's default weights: with the defaults the
    # conv features are ~0.06 and mostly bias (the same for every frame), the blocks' layer norms amplify that
    # constant, and the transformer took hundreds of steps to memorise even 64 utterances (20x faster with this)
    with torch.no_grad():
        for conv in (model.encoder.conv1, model.encoder.conv2):
            conv.bias.zero_()
            conv.weight.mul_(CONV_GAIN)
    init = None
    if os.environ.get("DEMO_ASR_INIT"):  # continue from an earlier run's weights (same dims, or more encoder blocks)
        init = torch.load(os.environ["DEMO_ASR_INIT"])
        grow_encoder(model, init["model"])
        model.load_state_dict(init["model"])
        if "intent_head" in init:
            intent_head.load_state_dict(init["intent_head"])
        if init.get("phonemes") == phones:
            ctc_head.load_state_dict(init["ctc_head"])
    steps = int(os.environ.get("DEMO_ASR_STEPS", "2")) if C.SMOKE else STEPS
    C.log("asr", f"encoder {C.count(model.encoder)} params, decoder {C.count(model.decoder)} params, "
                 f"{len(train)} train / {len(held)} held-out utterances, {len(phones)} phoneme symbols, "
                 f"{steps} steps of {BATCH} in {PROCS} process(es)")
    heads = {"intent_head": intent_head, "ctc_head": ctc_head}
    if frame_classes:
        heads["frame_head"] = nn.Linear(D_AUDIO, len(frame_classes))
        if init is not None and init.get("frame_classes") == frame_classes and "frame_head" in init:
            heads["frame_head"].load_state_dict(init["frame_head"])
    out = os.path.join(C.WORK, os.environ.get("DEMO_ASR_OUT", "asr.pt"))
    extra = {"dims": dims, "specials": sp, "phonemes": phones, "frame_classes": frame_classes}
    t0 = time.time()
    C.run_ranks(PROCS, train_steps, model, heads,
                Batches(man, mels, train, texts, phone_seq, sp, vb["n_base"], frames), steps, out, extra)
    # the trained weights are the file the (first) training process wrote last
    final = torch.load(out)
    model.load_state_dict(final["model"])
    for name, head in heads.items():
        head.load_state_dict(final[name])
    train_s = time.time() - t0
    final["train_seconds"] = train_s
    torch.save(final, out)
    if os.environ.get("DEMO_ASR_EVAL", "1") == "0":  # ranks_check.py: the weights only
        return
    # held-out (and dev) caller-text WER, intent accuracy of the auxiliary head, phoneme error rate
    model.eval()

    def evaluate(indices, samples):
        errs = words = right = perr = plen = f_right = f_all = 0
        by_voice = {}
        for i in indices:
            hyp = bpe.decode(transcribe(model, mels[i], sp, 6 if C.SMOKE else 40)).strip()
            e, n = wer(man[i]["text"], hyp)
            errs += e
            words += n
            with torch.no_grad():
                xa, _ = model.encoder(mels[i][None].float())
                right += int(intent_head(xa.mean(1)).argmax()) == man[i]["intent_index"]
                hyp_ph = C.ctc_collapse(ctc_head(xa[0]).argmax(-1).tolist(), len(phones))  # greedy
                e_ph = C.edit_distance(phone_seq[i], hyp_ph)
                perr += e_ph
                plen += len(phone_seq[i])
                if "frame_head" in heads and man[i].get("align"):
                    target = frames[i][0::2][:xa.shape[1]]
                    f_right += int(((heads["frame_head"](xa[0]).argmax(-1) == target) & (target != -100)).sum())
                    f_all += int((target != -100).sum())
                v = by_voice.setdefault(f"{man[i].get('voice')}+{man[i].get('variant') or 'none'}", [0, 0])
                v[0] += e_ph
                v[1] += len(phone_seq[i])
            if samples is not None and len(samples) < 8:
                samples.append((man[i]["text"], hyp))
        count = max(1, len(indices))
        return {"caller_text_wer": errs / max(1, words), "utterances": len(indices),
                "aux_intent_accuracy": right / count, "phoneme_error_rate": perr / max(1, plen),
                "phoneme_error_rate_by_voice": {v: round(e / max(1, n), 3) for v, (e, n) in sorted(by_voice.items())},
                **({"frame_accuracy": round(f_right / f_all, 4)} if f_all else {})}

    samples = []
    held_fig = evaluate(held[:2] if C.SMOKE else held, samples)
    result = {"caller_text_wer": held_fig["caller_text_wer"], "heldout_utterances": held_fig["utterances"],
              "aux_intent_accuracy": held_fig["aux_intent_accuracy"],
              "phoneme_error_rate": held_fig["phoneme_error_rate"],
              "phoneme_error_rate_by_voice": held_fig["phoneme_error_rate_by_voice"],
              **({"frame_accuracy": held_fig["frame_accuracy"]} if "frame_accuracy" in held_fig else {}),
              "dev": evaluate(dev[:2] if C.SMOKE else dev, None) if dev else None,
              "train_seconds": round(train_s),
              "encoder_params": C.count(model.encoder), "decoder_params": C.count(model.decoder)}
    for ref, hyp in samples:
        C.log("asr", f"  ref: {ref} | hyp: {hyp}")
    C.log("asr", json.dumps(result))
    with open(os.path.join(C.WORK, "asr_result.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
