"""Stage 1: caller audio. Every training question of every intent spoken by randomly drawn training
espeak-ng voice+variant / speed / pitch combinations, through the telephone band (8 kHz G.711 mu-law, some
A-law, round trip with sox) and back to 16 kHz; held-out questions in held-out voices for the tests.
Writes work/audio/{train,heldout}/*.wav and work/audio/manifest.json."""
import json
import os
import random
import subprocess
import sys
import tempfile
from multiprocessing import Pool

import common as C

RENDERS_PER_TRAIN_QUESTION = 10
RENDERS_PER_TEST_QUESTION = 3
ALAW_SHARE = 0.2


def render(job):
    out, text, voice, variant, speed, pitch, codec, gain, lead, tail = job
    if os.path.exists(out):
        return out
    v = voice + ("+" + variant if variant else "")
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", v, "-s", str(speed), "-p", str(pitch), "-w", tmp.name, text],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        enc = "u-law" if codec == "ulaw" else "a-law"
        # to the telephone band: 8 kHz G.711, then back to 16 kHz 16-bit as the bridge delivers it
        p1 = subprocess.Popen(["sox", tmp.name, "-r", "8000", "-c", "1", "-e", enc, "-b", "8", "-t", "wav", "-",
                               "vol", f"{gain:.2f}"], stdout=subprocess.PIPE)
        subprocess.run(["sox", "-t", "wav", "-", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer",
                        out + ".tmp.wav", "pad", f"{lead:.2f}", f"{tail:.2f}"], stdin=p1.stdout, check=True)
        p1.wait()
        os.replace(out + ".tmp.wav", out)
    return out


def main():
    C.setup()
    spec = C.intents()
    rnd = random.Random(C.SEED)
    tv, hv = spec["voices"]["train"], spec["voices"]["test"]
    per_train = 1 if C.SMOKE else RENDERS_PER_TRAIN_QUESTION
    per_test = 1 if C.SMOKE else RENDERS_PER_TEST_QUESTION
    jobs, manifest = [], []
    base = os.path.join(C.WORK, "audio")
    for split in ("train", "heldout"):
        os.makedirs(os.path.join(base, split), exist_ok=True)
    for ii, it in enumerate(spec["intents"]):
        for split, questions, voices, n in (("train", it["train"], tv, per_train),
                                            ("heldout", it["test"], hv, per_test)):
            if C.SMOKE:
                questions = questions[:2]
            for qi, q in enumerate(questions):
                for r in range(n):
                    voice = rnd.choice(voices["voices"])
                    variant = rnd.choice(voices["variants"])
                    speed = rnd.choice(voices["speeds"]) + rnd.randint(-8, 8)
                    pitch = rnd.choice(voices["pitches"]) + rnd.randint(-5, 5)
                    codec = "alaw" if rnd.random() < ALAW_SHARE else "ulaw"
                    gain = rnd.uniform(0.5, 1.0)
                    lead, tail = rnd.uniform(0.05, 0.3), rnd.uniform(0.05, 0.3)
                    path = os.path.join(base, split, f"{it['name']}_{qi:02d}_{r:02d}.wav")
                    jobs.append((path, q, voice, variant, speed, pitch, codec, gain, lead, tail))
                    manifest.append({"path": os.path.relpath(path, C.WORK), "split": split, "intent": it["name"],
                                     "intent_index": ii, "question": qi, "text": q, "voice": voice,
                                     "variant": variant, "speed": speed, "pitch": pitch, "codec": codec})
    C.log("data", f"{len(jobs)} utterances to render ({sum(m['split'] == 'train' for m in manifest)} train)")
    with Pool(2) as pool:
        for i, _ in enumerate(pool.imap_unordered(render, jobs, chunksize=8)):
            if (i + 1) % 500 == 0:
                C.log("data", f"{i + 1}/{len(jobs)}")
    with open(os.path.join(base, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=0)
    C.log("data", f"done: {len(manifest)} utterances")


if __name__ == "__main__":
    sys.exit(main())
