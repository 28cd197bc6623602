"""Stage 7: the trained checkpoint through the Java runtime.
1. DumpStages on one held-out file (--padded-seconds 0): log-mel, encoder, adaptor, LLM states, greedy tokens
   and CTC logits compared with PyTorch on the exported fp16 weights (export.py --compare).
2. EvalHeldout on every held-out file (held-out voices and questions), without and with earlier turns: the
   runtime's greedy reply vs the intent's answer, and the runtime's caller transcript (WER); the same without
   earlier turns on the dev files (dev questions and voices: never trained on, for tuning the recipe).
Writes work/java_result.json."""
import json
import os
import random
import subprocess
import sys

import asr as A
import common as C
import export as E
import llm as L


def java(main, *args):
    with open(os.path.join(C.WORK, "classpath.txt")) as f:
        cp = f.read().strip()
    repo = os.path.dirname(C.ROOT)
    cmd = ["java", "-Dai.djl.offline=true", "-cp", os.path.join(repo, "gpu-workers", "target", "classes") + ":" + cp +
           ":" + os.path.join(C.WORK, "java"), main, *args]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        print(r.stdout[-4000:])
        raise SystemExit(f"{main} failed ({r.returncode})")
    return r.stdout


def main():
    C.setup()
    spec = C.intents()
    with open(os.path.join(C.WORK, "audio", "manifest.json")) as f:
        man = json.load(f)
    held = [m for m in man if m["split"] == "heldout"]
    dev = [m for m in man if m["split"] == "dev"]
    if C.SMOKE:
        held, dev = held[:3], dev[:2]
    result = {}
    # 1. stage by stage against PyTorch
    wav = os.path.join(C.WORK, held[0]["path"])
    stages = os.path.join(C.WORK, "stages.safetensors")
    out = java("dev.omnicall.model.tools.DumpStages", "--checkpoint", C.CHECKPOINT, "--wav", wav, "--out", stages,
               "--padded-seconds", "0", "--max-tokens", "40")
    C.log("java", out.strip().splitlines()[-1])
    result["compare"] = E.compare(stages, wav)
    result["compare_file"] = held[0]["path"]
    # 2. held-out replies and transcripts
    rnd = random.Random(C.SEED + 9)
    pool = L.history_pool(spec, rnd, 40)
    items = []
    for m in held:
        items.append({"wav": os.path.join(C.WORK, m["path"]), "history": []})
    for m in held:
        items.append({"wav": os.path.join(C.WORK, m["path"]), "history": pool[rnd.randrange(1, len(pool))]})
    for m in dev:
        items.append({"wav": os.path.join(C.WORK, m["path"]), "history": []})
    inp, outp = os.path.join(C.WORK, "eval_in.json"), os.path.join(C.WORK, "eval_out.json")
    with open(inp, "w") as f:
        json.dump(items, f)
    java("EvalHeldout", C.CHECKPOINT, inp, outp)
    with open(outp) as f:
        res = json.load(f)
    answers = [it["answer"] for it in spec["intents"]]
    n = len(held)
    per_intent = {}
    for k, (m, r) in enumerate(zip(held + held, res)):
        ok = r["reply"].strip() == answers[m["intent_index"]]
        key = "no_history" if k < n else "with_history"
        result.setdefault(f"reply_exact_{key}", 0)
        result[f"reply_exact_{key}"] += ok
        if k < n:
            per_intent.setdefault(m["intent"], [0, 0])
            per_intent[m["intent"]][0] += ok
            per_intent[m["intent"]][1] += 1
            if not ok:
                C.log("java", f"MISS {m['intent']}: {m['text']!r} ({m['voice']}+{m['variant']}) -> {r['reply']!r}")
    errs = words = 0
    for m, r in zip(held, res[:n]):
        e, w = A.wer(m["text"], r.get("transcript", ""))
        errs, words = errs + e, words + w
    if dev:
        dev_right = dev_errs = dev_words = 0
        for m, r in zip(dev, res[2 * n:]):
            dev_right += r["reply"].strip() == answers[m["intent_index"]]
            e, w = A.wer(m["text"], r.get("transcript", ""))
            dev_errs, dev_words = dev_errs + e, dev_words + w
        result["dev"] = {"reply_exact_no_history": dev_right, "utterances": len(dev),
                         "caller_text_wer_java": dev_errs / max(1, dev_words)}
    result["heldout_utterances"] = n
    result["caller_text_wer_java"] = errs / max(1, words)
    result["caller_text_beams"] = int(os.environ.get("DEMO_TRANSCRIBE_BEAMS", "5"))
    result["caller_text_length_penalty"] = os.environ.get("DEMO_TRANSCRIBE_LENGTH_PENALTY", "per-token")
    result["per_intent_no_history"] = {k: f"{a}/{b}" for k, (a, b) in per_intent.items()}
    result["intents_majority_right"] = sum(a * 2 > b for a, b in per_intent.values())
    result["transcript_samples"] = [(m["text"], r.get("transcript")) for m, r in list(zip(held, res))[:6]]
    C.log("java", json.dumps(result))
    with open(os.path.join(C.WORK, "java_result.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
