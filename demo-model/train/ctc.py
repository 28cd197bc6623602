"""Stage 5: the CTC unit decoder (`speech_generator.`: input_proj, causal Llama layers with RoPE, output_proj to
unit_vocab_size + 1 classes, blank last) on the final-normed LLM states of the answer tokens (EOS included; the
state at the last prompt position first, as the runtime feeds them), each state repeated λ times, CTC loss
to the voice stage's collapsed units of that answer (checkpoint/units.json). The LLM is frozen; its states
come from the training questions with and without earlier turns. Writes work/ctc.pt."""
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

import common as C
import llm as L

# the unit decoder's shape, LLaMA-Omni's ctc_decoder_config "(layers, hidden, heads, ffn)" (the published model:
# (2,4096,32,11008)); the runtime reads it from config.json, so any shape loads (DEMO_CTC_CONFIG, session 26)
CTC_CONFIG = os.environ.get("DEMO_CTC_CONFIG", "(2,128,4,384)")
UPSAMPLE = 16  # units per answer token are at most 11.5 here
STEPS = int(os.environ.get("DEMO_CTC_STEPS", "1500"))
BATCH = int(os.environ.get("DEMO_CTC_BATCH", "8"))
LR = float(os.environ.get("DEMO_CTC_LR", "2e-3"))
AUGMENTED_SHARE = float(os.environ.get("DEMO_CTC_AUGMENTED", "0"))  # share of the samples from augmented speech
INPUT_NOISE = float(os.environ.get("DEMO_CTC_NOISE", "0"))  # Gaussian noise on the input states while training (x rms)
# session 27: > 0 trains the adaptor + LLM too, at this learning rate, on the CTC loss plus its own answer loss
# (teacher-forced cross-entropy on the same samples, weight DEMO_CTC_JOINT_CE), so the answer states become easier to
# read; the LLM is then written back to work/llm.pt (replacing a link there). 0: the LLM stays frozen (LLaMA-Omni's
# stage 2, the recipe before session 27)
JOINT_LR = float(os.environ.get("DEMO_CTC_JOINT_LR", "0"))
JOINT_CE = float(os.environ.get("DEMO_CTC_JOINT_CE", "1.0"))


def units_file():
    for p in (os.path.join(C.CHECKPOINT, "units.json"), os.path.join(C.WORK, "units.json")):
        if os.path.exists(p):
            return p
    raise SystemExit("no units.json (the voice stage writes it)")


def main():
    C.setup()
    rnd = random.Random(C.SEED + 7)
    spec = C.intents()
    with open(units_file()) as f:
        units = json.load(f)
    by_name = {u["name"]: u["units"] for u in units["intents"]}
    if C.SMOKE:
        # the voice stage's --smoke renders only a few answers: the others borrow one of their unit sequences
        borrowed = next(iter(by_name.values()))
        by_name = {it["name"]: by_name.get(it["name"], borrowed) for it in spec["intents"]}
    targets = [by_name[it["name"]] for it in spec["intents"]]
    st = torch.load(os.path.join(C.WORK, "llm.pt"))
    c = dict(st["config"], ctc_decoder_config=CTC_CONFIG, ctc_upsample_factor=UPSAMPLE,
             unit_vocab_size=units["num_units"])
    lm = C.OmniLM(st["config"])
    lm.load_state_dict(st["model"])
    lm.eval()
    answer_ids = st["answer_ids"]
    for t, a in zip(targets, answer_ids):
        assert len(t) <= UPSAMPLE * len(a), "too many units for the answer's tokens"
    # LLM states of the answers: training questions with and without history
    data = torch.load(os.path.join(C.WORK, "features.pt"))
    man, mels = data["manifest"], data["mel"]
    train = [i for i, m in enumerate(man) if m["split"] == "train"]
    pick = rnd.sample(train, 24 if C.SMOKE else int(os.environ.get("DEMO_CTC_SAMPLES", "240")))
    asr_state = torch.load(os.path.join(C.WORK, "asr.pt"))
    enc = L.encode_all(asr_state, [mels[i] for i in pick])
    if AUGMENTED_SHARE > 0:  # warped voices and tempo (as the LLM stage's augmented copy): states nearer the held-out
        aug_rnd = random.Random(C.SEED + 8)
        aug = set(aug_rnd.sample(range(len(pick)), int(AUGMENTED_SHARE * len(pick))))
        enc_aug = L.encode_all(asr_state, [mels[pick[k]] for k in sorted(aug)], aug_rnd)
        for k, e in zip(sorted(aug), enc_aug):
            enc[k] = e
    ids = L.java_prompt_ids(L.history_pool(spec, rnd, 8 if C.SMOKE else 40), [])
    samples, inputs = [], []
    with torch.no_grad():
        for k, i in enumerate(pick):
            before = ids["before"][0] if k % 2 == 0 else ids["before"][rnd.randrange(1, len(ids["before"]))]
            ii = man[i]["intent_index"]
            _, _, states, _ = L.batch_forward(lm, [(before, enc[k], ids["after"], answer_ids[ii])])
            samples.append((states, ii))
            inputs.append((before, enc[k], ids["after"], answer_ids[ii]))
    C.log("ctc", f"{len(samples)} answer state sequences; units per answer {min(map(len, targets))}.."
                 f"{max(map(len, targets))}, tokens per answer {min(map(len, answer_ids))}..{max(map(len, answer_ids))}")
    gen = C.SpeechGenerator(c)
    blank = c["unit_vocab_size"]
    C.log("ctc", f"speech generator {C.count(gen)} params, config {CTC_CONFIG}, λ={UPSAMPLE}")
    groups = [{"params": list(gen.parameters()), "lr": LR}]
    if JOINT_LR > 0:
        groups.append({"params": list(lm.parameters()), "lr": JOINT_LR, "weight_decay": 0.0})
        C.log("ctc", f"joint: the adaptor + LLM train too (lr {JOINT_LR}, answer loss weight {JOINT_CE})")
    opt = torch.optim.AdamW(groups, lr=LR, weight_decay=0.01)
    steps = 4 if C.SMOKE else STEPS
    warm = min(40, steps // 5 + 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    t0 = time.time()
    if os.environ.get("DEMO_CTC_EVAL"):  # evaluate a trained ctc.pt only (no training)
        gen.load_state_dict(torch.load(os.environ["DEMO_CTC_EVAL"])["model"])
        steps = 0
    ce = torch.zeros(())
    for step in range(1, steps + 1):
        chosen = rnd.sample(range(len(samples)), min(BATCH, len(samples)))
        if JOINT_LR > 0:  # the states of this step's LLM, with their gradient
            logits, tgt, states, counts = L.batch_forward(lm, [inputs[k] for k in chosen])
            ce = F.cross_entropy(logits.float(), tgt)
            batch = list(zip(torch.split(states, counts), [samples[k][1] for k in chosen]))
        else:
            batch = [samples[k] for k in chosen]
        n = max(s.shape[0] for s, _ in batch)
        x = torch.stack([F.pad(s, (0, 0, 0, n - s.shape[0])) for s, _ in batch])  # right-padded with zeros
        if INPUT_NOISE > 0:
            x = x + INPUT_NOISE * x.pow(2).mean().sqrt() * torch.randn_like(x)
        logp = F.log_softmax(gen(x).float(), -1).transpose(0, 1)  # [T, B, C]
        tg = [torch.tensor(targets[ii]) for _, ii in batch]
        loss = F.ctc_loss(logp, torch.cat(tg), torch.tensor([s.shape[0] * UPSAMPLE for s, _ in batch]),
                          torch.tensor([len(t) for t in tg]), blank=blank, zero_infinity=True)
        if JOINT_LR > 0:
            loss = loss + JOINT_CE * ce
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gen.parameters(), 1.0)
        if JOINT_LR > 0:
            torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps or C.SMOKE:
            C.log("ctc", f"step {step}/{steps} ctc loss {loss.item() - JOINT_CE * ce.item():.4f}"
                         + (f" answer loss {ce.item():.4f}" if JOINT_LR > 0 else "") + f" ({time.time() - t0:.0f} s)")
    train_s = time.time() - t0
    if steps:
        torch.save({"config": c, "model": gen.state_dict(), "train_seconds": train_s}, os.path.join(C.WORK, "ctc.pt"))
        if JOINT_LR > 0:
            path = os.path.join(C.WORK, "llm.pt")
            if os.path.islink(path):
                os.remove(path)  # a link to another run's LLM: that file stays as it was
            torch.save(dict(st, model=lm.state_dict(), ctc_joint_lr=JOINT_LR), path)
    lm.eval()
    if JOINT_LR > 0:  # the training samples' states again, from the trained LLM
        with torch.no_grad():
            samples = [(L.batch_forward(lm, [inp])[2], ii) for inp, (_, ii) in zip(inputs[:48], samples[:48])]
    # exact unit sequences from greedy labels
    gen.eval()
    exact, dist, total = 0, 0, 0
    with torch.no_grad():
        for s, ii in samples[:48]:
            labels = gen(s[None])[0].argmax(-1).tolist()
            got = C.ctc_collapse(labels, blank)
            exact += got == targets[ii]
            dist += C.edit_distance(got, targets[ii])
            total += len(targets[ii])
    result = {"train_seconds": round(train_s), "exact_unit_sequences": f"{exact}/{min(48, len(samples))}",
              "unit_error_rate": round(dist / max(1, total), 4)}
    # the states the runtime meets: held-out questions in held-out voices (their intent's answer, teacher-forced)
    held = [i for i, m in enumerate(man) if m["split"] == "heldout"][:2 if C.SMOKE else 48]
    held_enc = L.encode_all(asr_state, [mels[i] for i in held])
    exact, dist, total = 0, 0, 0
    with torch.no_grad():
        for k, i in enumerate(held):
            ii = man[i]["intent_index"]
            _, _, s, _ = L.batch_forward(lm, [(ids["before"][0], held_enc[k], ids["after"], answer_ids[ii])])
            got = C.ctc_collapse(gen(s[None])[0].argmax(-1).tolist(), blank)
            exact += got == targets[ii]
            dist += C.edit_distance(got, targets[ii])
            total += len(targets[ii])
    result["heldout_exact_unit_sequences"] = f"{exact}/{len(held)}"
    result["heldout_unit_error_rate"] = round(dist / max(1, total), 4)
    C.log("ctc", json.dumps(result))
    with open(os.path.join(C.WORK, "ctc_result.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
