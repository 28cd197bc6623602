"""Probe: is the dev set hard for its wordings or for its voices? Renders the dev questions twice into a work
directory of its own: split "heldout" = the dev questions in the TRAINING voices, split "dev" = the same questions in
the dev voices (each 3 renderings, from random streams of their own). check_java.py then scores both, which separates
wording from voice. Session 15 on the committed brain: 63/108 (training voices) vs 64/108 (dev voices).

    DEMO_WORK=work/probe /usr/bin/python3 probe_wording.py
    DEMO_WORK=work/probe DEMO_CHECKPOINT=../checkpoint /usr/bin/python3 check_java.py
(check_java.py needs classpath.txt and the compiled java/ tools in the work directory, as train.sh leaves them.)"""
import json
import os
import random
import sys
from multiprocessing import Pool

import common as C
import data as D


def main():
    C.setup()
    spec = C.intents()
    base = os.path.join(C.WORK, "audio")
    jobs, manifest = [], []
    for split, voices, seed in (("heldout", spec["voices"]["train"], C.SEED + 7001),
                                ("dev", spec["voices"]["dev"], C.SEED + 7002)):
        rnd = random.Random(seed)
        os.makedirs(os.path.join(base, split), exist_ok=True)
        for ii, it in enumerate(spec["intents"]):
            for qi, q in enumerate(it["dev"]):
                for r in range(3):
                    voice, variant = rnd.choice(voices["voices"]), rnd.choice(voices["variants"])
                    speed = rnd.choice(voices["speeds"]) + rnd.randint(-8, 8)
                    pitch = rnd.choice(voices["pitches"]) + rnd.randint(-5, 5)
                    codec = "alaw" if rnd.random() < D.ALAW_SHARE else "ulaw"
                    gain, lead, tail = rnd.uniform(0.5, 1.0), rnd.uniform(0.05, 0.3), rnd.uniform(0.05, 0.3)
                    path = os.path.join(base, split, f"{it['name']}_{qi:02d}_{r:02d}.wav")
                    jobs.append((path, q, voice, variant, speed, pitch, codec, gain, lead, tail))
                    manifest.append({"path": os.path.relpath(path, C.WORK), "split": split, "intent": it["name"],
                                     "intent_index": ii, "question": qi, "text": q, "voice": voice,
                                     "variant": variant, "speed": speed, "pitch": pitch, "codec": codec})
    with Pool(2) as pool:
        list(pool.imap_unordered(D.render, jobs, chunksize=8))
    with open(os.path.join(base, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=0)
    C.log("probe", f"{len(manifest)} utterances: dev questions in training voices (heldout), in dev voices (dev)")


if __name__ == "__main__":
    sys.exit(main())
