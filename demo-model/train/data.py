"""Stage 1: caller audio. Every training question of every intent spoken by randomly drawn training
espeak-ng voice+variant / speed / pitch combinations, through the telephone band (8 kHz G.711 mu-law, some
A-law, round trip with sox) and back to 16 kHz; held-out questions in held-out voices for the tests.
Also ASR-only utterances ("asr_extra": random strings of the training questions' and answers' words, no intent)
that make the encoder and the Whisper decoder hear words rather than memorise sentences, and each utterance's
phonemes as the rendering voice says them (`espeak-ng -q --ipa`, the encoder's auxiliary CTC target).
Writes work/audio/{train,heldout,asr_extra}/*.wav (+ .ipa) and work/audio/manifest.json."""
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from multiprocessing import Pool

import common as C

RENDERS_PER_TRAIN_QUESTION = int(os.environ.get("DEMO_RENDERS", "20"))
RENDERS_PER_TEST_QUESTION = 3
ALAW_SHARE = 0.2
EXTRA_UTTERANCES = int(os.environ.get("DEMO_EXTRA_UTTERANCES", "2400"))  # word strings for the ASR stage only
TEMPLATES_PER_INTENT = int(os.environ.get("DEMO_TEMPLATES_PER_INTENT", "300"))  # generated questions (templates)
TEMPLATE_RENDERS = int(os.environ.get("DEMO_TEMPLATE_RENDERS", "2"))
# training utterances spoken by a second synthesiser, flite (Debian's `flite`: the kal/kal16 diphone voices and the
# awb/rms/slt clustergen voices, built from recordings of real speakers), so the encoder hears speech that espeak-ng's
# formant model never makes; 0 = none (the recipe before session 11)
FLITE_UTTERANCES = int(os.environ.get("DEMO_FLITE_UTTERANCES", "0"))
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")


def phonemes(text, voice):
    """the IPA phonemes espeak-ng speaks for text in voice (stress marks kept here; asr.py drops them)."""
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice, text], check=True, capture_output=True, text=True)
    return " ".join(out.stdout.split())


def render(job):
    out, text, voice, variant, speed, pitch, codec, gain, lead, tail = job
    if not os.path.exists(out[:-4] + ".ipa"):
        with open(out[:-4] + ".ipa.tmp", "w") as f:  # flite speaks American English: en-us's phonemes stand in
            f.write(phonemes(text, "en-us" if voice.startswith("flite:") else voice))
        os.replace(out[:-4] + ".ipa.tmp", out[:-4] + ".ipa")
    if os.path.exists(out):
        return out
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        if voice.startswith("flite:"):
            # speed = duration stretch in percent, pitch = the voice's mean F0 target in Hz
            subprocess.run(["flite", "-voice", voice[len("flite:"):], "--setf", f"duration_stretch={speed / 100:.2f}",
                            "--setf", f"int_f0_target_mean={pitch}", "-t", text, "-o", tmp.name],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            v = voice + ("+" + variant if variant else "")
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
    held_rnd = random.Random(C.SEED + 1000)  # held-out renderings do not move when the training recipe changes
    tv, hv = spec["voices"]["train"], spec["voices"]["test"]
    per_train = 1 if C.SMOKE else RENDERS_PER_TRAIN_QUESTION
    per_test = 1 if C.SMOKE else RENDERS_PER_TEST_QUESTION
    jobs, manifest = [], []
    base = os.path.join(C.WORK, "audio")
    for split in ("train", "heldout", "asr_extra"):
        os.makedirs(os.path.join(base, split), exist_ok=True)

    def draw(voices, rnd=rnd):
        return (rnd.choice(voices["voices"]), rnd.choice(voices["variants"]),
                rnd.choice(voices["speeds"]) + rnd.randint(-8, 8), rnd.choice(voices["pitches"]) + rnd.randint(-5, 5),
                "alaw" if rnd.random() < ALAW_SHARE else "ulaw", rnd.uniform(0.5, 1.0),
                rnd.uniform(0.05, 0.3), rnd.uniform(0.05, 0.3))
    for ii, it in enumerate(spec["intents"]):
        for split, questions, voices, n in (("train", it["train"], tv, per_train),
                                            ("heldout", it["test"], hv, per_test)):
            if C.SMOKE:
                questions = questions[:2]
            for qi, q in enumerate(questions):
                for r in range(n):
                    voice, variant, speed, pitch, codec, gain, lead, tail = draw(voices, rnd if split == "train" else held_rnd)
                    path = os.path.join(base, split, f"{it['name']}_{qi:02d}_{r:02d}.wav")
                    jobs.append((path, q, voice, variant, speed, pitch, codec, gain, lead, tail))
                    manifest.append({"path": os.path.relpath(path, C.WORK), "split": split, "intent": it["name"],
                                     "intent_index": ii, "question": qi, "text": q, "voice": voice,
                                     "variant": variant, "speed": speed, "pitch": pitch, "codec": codec})
    # generated training questions (intents.json "templates"), each in a few training voices: many more ways of
    # asking than the 40 written questions, which held-out questions were failed by one question at a time (0/3 or
    # 3/3 of its renderings right in session 5), not by voice; own random stream and folder, so nothing above moves
    os.makedirs(os.path.join(base, "train_tpl"), exist_ok=True)
    tpl_rnd = random.Random(C.SEED + 2000)
    generated = C.template_questions(spec, 2 if C.SMOKE else TEMPLATES_PER_INTENT, C.SEED + 2000)
    for ii, it in enumerate(spec["intents"]):
        for qi, q in enumerate(generated.get(it["name"], [])):
            for r in range(1 if C.SMOKE else TEMPLATE_RENDERS):
                voice, variant, speed, pitch, codec, gain, lead, tail = draw(tv, tpl_rnd)
                path = os.path.join(base, "train_tpl", f"{it['name']}_{qi:03d}_{r}.wav")
                jobs.append((path, q, voice, variant, speed, pitch, codec, gain, lead, tail))
                manifest.append({"path": os.path.relpath(path, C.WORK), "split": "train", "intent": it["name"],
                                 "intent_index": ii, "question": 1000 + qi, "text": q, "voice": voice,
                                 "variant": variant, "speed": speed, "pitch": pitch, "codec": codec,
                                 "generated": True})
    # ASR-only word strings: 3-8 words drawn from the training questions and the answers (never the held-out
    # questions' own words unless training text has them too), in training voices
    words = sorted({w for it in spec["intents"] for t in it["train"] + [it["answer"]]
                    for w in re.sub(r"[^a-z' ]", " ", t.lower()).split()})
    for k in range(4 if C.SMOKE else EXTRA_UTTERANCES):
        text = " ".join(rnd.choice(words) for _ in range(rnd.randint(3, 8))).capitalize() + "."
        voice, variant, speed, pitch, codec, gain, lead, tail = draw(tv)
        path = os.path.join(base, "asr_extra", f"words_{k:04d}.wav")
        jobs.append((path, text, voice, variant, speed, pitch, codec, gain, lead, tail))
        manifest.append({"path": os.path.relpath(path, C.WORK), "split": "asr_extra", "intent": None,
                         "intent_index": -1, "question": k, "text": text, "voice": voice, "variant": variant,
                         "speed": speed, "pitch": pitch, "codec": codec})
    # flite renderings (training only; own random stream and folder, so nothing above moves): written and generated
    # questions with their intent, and a share of word strings for the ASR stage
    if FLITE_UTTERANCES > 0:
        import shutil
        if shutil.which("flite") is None:
            raise SystemExit("DEMO_FLITE_UTTERANCES needs Debian's flite (apt-get install flite)")
        os.makedirs(os.path.join(base, "train_flite"), exist_ok=True)
        fl_rnd = random.Random(C.SEED + 4000)
        pool = [(ii, it["name"], q) for ii, it in enumerate(spec["intents"]) for q in it["train"]]
        pool += [(ii, it["name"], q) for ii, it in enumerate(spec["intents"]) for q in generated.get(it["name"], [])]
        for k in range(4 if C.SMOKE else FLITE_UTTERANCES):
            if fl_rnd.random() < 0.8:
                ii, name, text = fl_rnd.choice(pool)
            else:
                ii, name, text = -1, None, " ".join(fl_rnd.choice(words) for _ in range(fl_rnd.randint(3, 8))).capitalize() + "."
            voice = "flite:" + fl_rnd.choice(FLITE_VOICES)
            stretch = fl_rnd.randint(80, 125)
            female = voice == "flite:slt"
            f0 = fl_rnd.randint(150, 260) if female else fl_rnd.randint(80, 170)
            codec = "alaw" if fl_rnd.random() < ALAW_SHARE else "ulaw"
            gain, lead, tail = fl_rnd.uniform(0.5, 1.0), fl_rnd.uniform(0.05, 0.3), fl_rnd.uniform(0.05, 0.3)
            path = os.path.join(base, "train_flite", f"flite_{k:05d}.wav")
            jobs.append((path, text, voice, "", stretch, f0, codec, gain, lead, tail))
            manifest.append({"path": os.path.relpath(path, C.WORK), "split": "train" if ii >= 0 else "asr_extra",
                             "intent": name, "intent_index": ii, "question": 5000 + k, "text": text, "voice": voice,
                             "variant": "", "speed": stretch, "pitch": f0, "codec": codec, "flite": True})
    C.log("data", f"{len(jobs)} utterances to render ({sum(m['split'] == 'train' for m in manifest)} train)")
    with Pool(2) as pool:
        for i, _ in enumerate(pool.imap_unordered(render, jobs, chunksize=8)):
            if (i + 1) % 500 == 0:
                C.log("data", f"{i + 1}/{len(jobs)}")
    for m in manifest:
        with open(os.path.join(C.WORK, m["path"][:-4] + ".ipa")) as f:
            m["ipa"] = f.read()
    with open(os.path.join(base, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=0)
    C.log("data", f"done: {len(manifest)} utterances")


if __name__ == "__main__":
    sys.exit(main())
