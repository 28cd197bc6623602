"""Stage 1: caller audio. Every training question of every intent spoken by randomly drawn training
espeak-ng voice+variant / speed / pitch combinations, through the telephone band (8 kHz G.711 mu-law, some
A-law, round trip with sox) and back to 16 kHz; held-out questions in held-out voices for the tests.
Also ASR-only utterances ("asr_extra": random strings of the training questions' and answers' words, no intent)
that make the encoder and the Whisper decoder hear words rather than memorise sentences, and each utterance's
phonemes as the rendering voice says them (`espeak-ng -q --ipa`, the encoder's auxiliary CTC target) and where
each of them starts in the file (`.align`, espeak_align.py: the encoder's frame-level phoneme target).
Dev utterances: intents.json's dev questions in its dev voices, never trained on, so a recipe can be tuned without
reading the held-out test set.
Writes work/audio/{train,heldout,dev,asr_extra}/*.wav (+ .ipa, .align) and work/audio/manifest.json."""
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from multiprocessing import Pool

import common as C
import espeak_align

RENDERS_PER_TRAIN_QUESTION = int(os.environ.get("DEMO_RENDERS", "20"))
RENDERS_PER_TEST_QUESTION = 3
ALAW_SHARE = 0.2
EXTRA_UTTERANCES = int(os.environ.get("DEMO_EXTRA_UTTERANCES", "2400"))  # word strings for the ASR stage only
TEMPLATES_PER_INTENT = int(os.environ.get("DEMO_TEMPLATES_PER_INTENT", "500"))  # generated questions (templates)
TEMPLATE_RENDERS = int(os.environ.get("DEMO_TEMPLATE_RENDERS", "2"))
# training utterances spoken by a second synthesiser, flite (Debian's `flite`: the kal/kal16 diphone voices and the
# awb/rms/slt clustergen voices, built from recordings of real speakers), so the encoder hears speech that espeak-ng's
# formant model never makes; 0 = none (the recipe before session 11)
FLITE_UTTERANCES = int(os.environ.get("DEMO_FLITE_UTTERANCES", "0"))
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
# training utterances in random espeak-ng voice variants (session 13): DEMO_RV_VARIANTS variant files written into a
# copy of espeak-ng's data (work/espeak-ng/), each drawing the source and filter from wide ranges (pitch, formant
# frequencies/heights/widths, voicing, consonant gain, flutter, roughness, and sometimes a spectral `tone` table,
# breath, echo or a Klatt source other than the held-out klatt3's), so the encoder hears many more voices than the 66
# bundled training variants; the held-out variants are never copied. 0 = none (the recipe before session 13)
RV_UTTERANCES = int(os.environ.get("DEMO_RV_UTTERANCES", "0"))
RV_VARIANTS = int(os.environ.get("DEMO_RV_VARIANTS", "250"))
RV_KLATT = (1, 2, 4, 5, 6)  # the Klatt sources of training variants (klatt3 is held out)
# "chain" sentences for the Whisper decoder (stage 3b) alone, not the encoder (stage 3) or the LLM (stage 4): walks
# over the word trigrams and bigrams of the training texts (session 23), so the decoder hears new sentences in the
# domain's words instead of recalling the training questions. Split "asr_chain", no intent, no phoneme alignment
# (only stage 3's frame loss reads those). 0 = none (the recipe before session 23)
CHAIN_UTTERANCES = int(os.environ.get("DEMO_CHAIN_UTTERANCES", "8000"))
# training utterances in random accents (session 24): DEMO_RA_VARIANTS variant files ra000.. in the work directory's
# copy of espeak-ng's data, each a bundled training variant's voice with 2-5 of ACCENT_RULES' phoneme replacements
# (the `replace` attribute espeak-ng's own accents are made of: en-gb-x-gbclan is en-n's phonemes with "replace 03 N
# n" and "replace 03 i I2"), so the encoder hears the training voices with their vowels and consonants shifted as
# English accents shift them, not only the six training accents. Written or generated questions with their intent
# (80 %) and word strings, like the random voices. 0 = none (the recipe before session 24)
RA_UTTERANCES = int(os.environ.get("DEMO_RA_UTTERANCES", "0"))
RA_VARIANTS = int(os.environ.get("DEMO_RA_VARIANTS", "250"))
# (phoneme, spoken as) in espeak-ng's English phoneme names: lot/thought/cloth merged or split, trap raised, bath
# short, foot-strut, goose/foot, goat, face and price and mouth monophthongised or shifted, nurse, kit/fleece, -in'
# for -ing, th-stopping and th-fronting, non-rhotic vowels; each checked to change what en, en-us, en-gb-scotland,
# en-029, en-gb-x-gbcwmd and en-gb-x-rp say (`espeak-ng -x`)
ACCENT_RULES = (("0", "A:"), ("0", "O:"), ("O:", "0"), ("O:", "A:"), ("a", "E"), ("a", "e@"), ("a", "a#"),
                ("aa", "a"), ("V", "U"), ("V", "@"), ("V", "0"), ("U", "u:"), ("u:", "U"), ("oU", "O:"),
                ("oU", "o@"), ("eI", "E"), ("eI", "aI"), ("aI", "A:"), ("aI", "a"), ("aI", "OI"), ("aU", "a"),
                ("aU", "aa"), ("3:", "@"), ("3:", "E"), ("i:", "I"), ("I", "i:"), ("I", "@"), ("E", "eI"),
                ("E", "a"), ("e@", "E"), ("A@", "A:"), ("O@", "O:"), ("N", "n"), ("T", "t"), ("D", "d"),
                ("T", "f"), ("D", "v"), ("@", "V"))
# variants that live in a copy of espeak-ng's data in the work directory (prefix -> its folder): espeak-ng lists at most
# ESPEAK_VOICES voice and variant files and says a variant past them "does not exist" (1.51: 322 files are installed),
# so a copy keeps only the training voices and variants beside its own
WORK_COPIES = {"rv": "espeak-ng", "ra": "espeak-ng-ra"}
ESPEAK_VOICES = 349


def chain_sentences(texts, n, rnd):
    """n sentences of 4-15 tokens (words and , ? . !), none of them a training text itself: each a walk from a sentence
    start that takes a word the training texts have after the last two (half the time, when there is one) or after the
    last one, up to the first end mark."""
    def tokens(t):
        return re.findall(r"[a-z']+|[,?.!]", t.lower())
    seen = {" ".join(tokens(t)) for t in texts}
    after1, after2 = {}, {}
    for t in texts:
        w = ["<s>"] + tokens(t)
        for a, b in zip(w, w[1:]):
            after1.setdefault(a, []).append(b)
        for a, b, c in zip(w, w[1:], w[2:]):
            after2.setdefault((a, b), []).append(c)
    out = []
    while len(out) < n:
        w = ["<s>", rnd.choice(after1["<s>"])]
        while w[-1] not in "?.!" and len(w) < 16:
            two = after2.get((w[-2], w[-1]))
            w.append(rnd.choice(two) if two and rnd.random() < 0.5 else rnd.choice(after1[w[-1]]))
        body = w[1:]
        if body[-1] not in "?.!" or not 4 <= len(body) <= 15 or " ".join(body) in seen:
            continue
        text = re.sub(r"\bi\b", "I", "".join(x if x in ",?.!" else " " + x for x in body).strip())
        out.append(text[0].upper() + text[1:])
    return out


def random_variant(rnd, name):
    """the text of one random espeak-ng variant file (voices/!v/NAME)."""
    female = rnd.random() < 0.5
    base = rnd.randint(140, 240) if female else rnd.randint(60, 150)
    lines = ["language variant", f"name {name}", f"pitch {base} {base + rnd.randint(30, 150)}"]
    scale = rnd.uniform(0.95, 1.22) if female else rnd.uniform(0.82, 1.08)  # vocal-tract length, all formants
    for k in range(9):
        freq = round(100 * scale * rnd.uniform(0.92, 1.08)) if 1 <= k <= 5 else 100
        height = rnd.randint(40, 160) if k <= 5 else rnd.randint(0, 100)
        lines.append(f"formant {k} {freq} {height} {rnd.randint(50, 180)}")
    lines.append(f"voicing {rnd.randint(25, 170)}")
    lines.append(f"consonants {rnd.randint(40, 150)} {rnd.randint(40, 150)}")
    lines.append(f"flutter {rnd.choice((0, 0, 1, 3, 5, 6, 10, 20))}")
    lines.append(f"roughness {rnd.randint(0, 5)}")
    if rnd.random() < 0.4:  # a spectral envelope: amplitude 0-255 at rising frequencies
        freqs = sorted(rnd.sample(range(100, 3600, 100), rnd.randint(3, 5)))
        lines.append("tone " + " ".join(f"{f} {rnd.randint(10, 255)}" for f in freqs))
    if rnd.random() < 0.25:
        lines.append("breath " + " ".join(str(rnd.randint(0, 8)) for _ in range(8)))
        lines.append("breathw " + " ".join(str(rnd.randint(100, 400)) for _ in range(6)))
    if rnd.random() < 0.2:
        lines.append(f"echo {rnd.randint(10, 150)} {rnd.randint(5, 20)}")
    if rnd.random() < 0.25:
        lines.append(f"klatt {rnd.choice(RV_KLATT)}")
    return "\n".join(lines) + "\n"


def copy_dir(variant):
    """the work directory's copy of espeak-ng's data that holds this generated variant; None for a bundled one. A
    missing variant file is an error: espeak-ng would speak the plain voice without a word."""
    if variant[:2] not in WORK_COPIES:
        return None
    path = os.path.join(C.WORK, WORK_COPIES[variant[:2]])
    if not os.path.exists(os.path.join(path, "espeak-ng-data", "voices", "!v", variant)):
        raise FileNotFoundError(f"random variant {variant} missing under {path}")
    return path


def espeak_data_dir():
    src = subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True, text=True).stdout
    m = re.search(r"Data at: (\S+)", src)
    if not m:
        raise SystemExit("espeak-ng --version did not name its data directory")
    return m.group(1)


def work_copy(prefix, train):
    """a copy of espeak-ng's data under the work directory (made once) for the generated variants named prefix...:
    only the training voices' language files and the training variants stay (no held-out or dev voice or variant can
    be reached through it, and the generated variants fit under ESPEAK_VOICES); returns its espeak-ng-data folder."""
    import shutil
    dst = os.path.join(C.WORK, WORK_COPIES[prefix], "espeak-ng-data")
    if not os.path.isdir(dst):
        shutil.copytree(espeak_data_dir(), dst + ".tmp")
        voices, variants = {v.lower() for v in train["voices"]}, set(train["variants"])
        shutil.rmtree(os.path.join(dst + ".tmp", "voices", "mb"), ignore_errors=True)  # mbrola's, not installed
        for folder, keep in (("lang", voices), (os.path.join("voices", "!v"), variants)):
            for root, _, files in os.walk(os.path.join(dst + ".tmp", folder)):
                for f in files:
                    if (f.lower() if folder == "lang" else f) not in keep:
                        os.remove(os.path.join(root, f))
        os.replace(dst + ".tmp", dst)
    return dst


def check_speakable(data, voices, names):
    """espeak-ng finds every generated variant with the training voices (past ESPEAK_VOICES files it finds neither
    all the variants nor, by language, the voice "en")."""
    listed = sum(len(files) for folder in ("lang", "voices") for _, _, files in os.walk(os.path.join(data, folder)))
    if listed > ESPEAK_VOICES:
        raise SystemExit(f"{listed} voice and variant files under {data}: espeak-ng finds at most {ESPEAK_VOICES}; "
                         f"ask for fewer variants")
    for k, name in enumerate(names):
        voice = voices[k % len(voices)]
        r = subprocess.run(["espeak-ng", f"--path={os.path.dirname(data)}", "-v", f"{voice}+{name}", "-q", "Hello."],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"espeak-ng does not find {voice}+{name} under {data}: {r.stderr.strip()}")


def write_random_variants(n, seed, train):
    """n random variants rv000.. in the work directory's copy of espeak-ng's data (work/espeak-ng/); their names."""
    dst = work_copy("rv", train)
    rnd = random.Random(seed)
    names = []
    for k in range(n):
        name = f"rv{k:03d}"
        with open(os.path.join(dst, "voices", "!v", name), "w") as f:
            f.write(random_variant(rnd, name))
        names.append(name)
    return names


def random_accent(rnd, name, base_text):
    """the text of one random-accent variant file (voices/!v/NAME): a training variant's voice (base_text, its file;
    empty = the plain voice) with 2-5 replacements from ACCENT_RULES, at most one for each phoneme."""
    rules, used, n = [], set(), rnd.randint(2, 5)
    for frm, to in rnd.sample(ACCENT_RULES, len(ACCENT_RULES)):
        if len(rules) == n:
            break
        if frm not in used and to not in used:  # no chains (a -> E, E -> eI) and no swaps
            rules.append((frm, to))
            used.update((frm, to))
    body = [ln for ln in base_text.splitlines() if not re.match(r"\s*(name|language)\b", ln)]
    return "\n".join(["language variant", f"name {name}", *body, *(f"replace 0 {f} {t}" for f, t in rules)]) + "\n"


def write_random_accents(n, seed, train):
    """n random-accent variants ra000.. in the work directory's second copy of espeak-ng's data (work/espeak-ng-ra/),
    each on one of the training variants' voices (or the plain voice); returns their names."""
    dst = work_copy("ra", train)
    rnd = random.Random(seed)
    names = []
    for k in range(n):
        base = rnd.choice(train["variants"])
        base_text = ""
        if base:
            with open(os.path.join(dst, "voices", "!v", base)) as f:
                base_text = f.read()
        name = f"ra{k:03d}"
        with open(os.path.join(dst, "voices", "!v", name), "w") as f:
            f.write(random_accent(rnd, name, base_text))
        names.append(name)
    return names


def check_variants(voices):
    """every voice of a voices set speaks its variants: espeak-ng falls back to the plain voice without a word when it
    does not take a voice+variant name (espeak-ng 1.51 says "en-gb+m3" exactly as "en-gb"; "en+m3" is en-gb's file
    with m3), which left a sixth of the training audio without its variants until session 24."""
    variants = [v for v in voices["variants"] if v][:2]
    for voice in voices["voices"]:
        plain = subprocess.run(["espeak-ng", "-v", voice, "--stdout", "Hello there."], check=True,
                               capture_output=True).stdout
        for variant in variants:
            with_variant = subprocess.run(["espeak-ng", "-v", f"{voice}+{variant}", "--stdout", "Hello there."],
                                          check=True, capture_output=True).stdout
            if with_variant == plain:
                raise SystemExit(f"espeak-ng speaks {voice}+{variant} exactly as {voice}: it ignores the variant with "
                                 f"this voice name; name the voice's file instead (`espeak-ng --voices` lists them)")


def phonemes(text, voice):
    """the IPA phonemes espeak-ng speaks for text in voice (stress marks kept here; asr.py drops them)."""
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice, text], check=True, capture_output=True, text=True)
    return " ".join(out.stdout.split())


def write_alignment(out, text, voice, variant, speed, pitch, lead, tail):
    """out's .align beside it: where each phoneme starts in the rendered file, in seconds (espeak-ng's phoneme events
    from synthesising the text again, shifted by the leading silence), and where the speech ends. Refused when the
    rendered file's length is not the lead + the speech + the tail: the events would not be this file's."""
    import wave
    path = copy_dir(variant)
    n, events = espeak_align.align(voice + ("+" + variant if variant else ""), speed, pitch, text, path)
    speech = n / espeak_align.RATE
    with wave.open(out) as w:
        have = w.getnframes() / w.getframerate()
    lead, tail = float(f"{lead:.2f}"), float(f"{tail:.2f}")  # as render() gives them to sox
    if abs(have - (lead + speech + tail)) > 0.005:  # the library's lengths vary by up to ~20 samples (1 ms) a run
        raise RuntimeError(f"{out}: {have:.4f} s, but lead {lead:.4f} + speech {speech:.4f} + tail {tail:.4f} s: "
                           f"espeak-ng speaks it differently now than when it was rendered")
    align = {"start": [round(lead + s / espeak_align.RATE, 5) for s, _ in events],
             "phoneme": [p for _, p in events], "end": round(lead + speech, 5)}
    with open(out[:-4] + ".align.tmp", "w") as f:
        json.dump(align, f)
    os.replace(out[:-4] + ".align.tmp", out[:-4] + ".align")


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
            # a random variant lives in the work directory's copy of espeak-ng's data (copy_dir checks its file)
            data = copy_dir(variant)
            path = [f"--path={data}"] if data else []
            subprocess.run(["espeak-ng", *path, "-v", v, "-s", str(speed), "-p", str(pitch), "-w", tmp.name, text],
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


def align(job):
    """the .align of a rendered espeak-ng utterance (write_alignment), unless it has one."""
    out, text, voice, variant, speed, pitch, codec, gain, lead, tail = job
    if not os.path.exists(out[:-4] + ".align"):
        write_alignment(out, text, voice, variant, speed, pitch, lead, tail)


def main():
    C.setup()
    spec = C.intents()
    rnd = random.Random(C.SEED)
    held_rnd = random.Random(C.SEED + 1000)  # held-out renderings do not move when the training recipe changes
    dev_rnd = random.Random(C.SEED + 3000)  # nor do the dev renderings
    tv, hv = spec["voices"]["train"], spec["voices"]["test"]
    dv = spec["voices"].get("dev")
    C.check_dev_questions(spec)
    for voices in (tv, hv, dv):
        if voices:
            check_variants(voices)
    per_train = 1 if C.SMOKE else RENDERS_PER_TRAIN_QUESTION
    per_test = 1 if C.SMOKE else RENDERS_PER_TEST_QUESTION
    jobs, manifest = [], []
    base = os.path.join(C.WORK, "audio")
    for split in ("train", "heldout", "dev", "asr_extra"):
        os.makedirs(os.path.join(base, split), exist_ok=True)

    def draw(voices, rnd=rnd):
        return (rnd.choice(voices["voices"]), rnd.choice(voices["variants"]),
                rnd.choice(voices["speeds"]) + rnd.randint(-8, 8), rnd.choice(voices["pitches"]) + rnd.randint(-5, 5),
                "alaw" if rnd.random() < ALAW_SHARE else "ulaw", rnd.uniform(0.5, 1.0),
                rnd.uniform(0.05, 0.3), rnd.uniform(0.05, 0.3))
    for ii, it in enumerate(spec["intents"]):
        sets = [("train", it["train"], tv, per_train, rnd), ("heldout", it["test"], hv, per_test, held_rnd)]
        if dv and it.get("dev"):
            sets.append(("dev", it["dev"], dv, per_test, dev_rnd))
        for split, questions, voices, n, stream in sets:
            if C.SMOKE:
                questions = questions[:2 if split != "dev" else 1]
            for qi, q in enumerate(questions):
                for r in range(n):
                    voice, variant, speed, pitch, codec, gain, lead, tail = draw(voices, stream)
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
    # chain sentences (stage 3b only; own random stream and folder, so nothing above moves)
    if CHAIN_UTTERANCES > 0:
        os.makedirs(os.path.join(base, "asr_chain"), exist_ok=True)
        ch_rnd = random.Random(C.SEED + 7000)
        texts = [t for it in spec["intents"] for t in it["train"] + [it["answer"]] + generated.get(it["name"], [])]
        for k, text in enumerate(chain_sentences(texts, 4 if C.SMOKE else CHAIN_UTTERANCES, ch_rnd)):
            voice, variant, speed, pitch, codec, gain, lead, tail = draw(tv, ch_rnd)
            path = os.path.join(base, "asr_chain", f"chain_{k:05d}.wav")
            jobs.append((path, text, voice, variant, speed, pitch, codec, gain, lead, tail))
            manifest.append({"path": os.path.relpath(path, C.WORK), "split": "asr_chain", "intent": None,
                             "intent_index": -1, "question": 8000 + k, "text": text, "voice": voice,
                             "variant": variant, "speed": speed, "pitch": pitch, "codec": codec})
    # the extra-voice sets below (flite, random variants) draw 80 % written or generated training questions with their
    # intent and 20 % word strings (no intent), each from its own random stream
    questions = [(ii, it["name"], q) for ii, it in enumerate(spec["intents"]) for q in it["train"]]
    questions += [(ii, it["name"], q) for ii, it in enumerate(spec["intents"]) for q in generated.get(it["name"], [])]

    def question_or_words(r):
        if r.random() < 0.8:
            return r.choice(questions)
        return -1, None, " ".join(r.choice(words) for _ in range(r.randint(3, 8))).capitalize() + "."
    # flite renderings (training only; own random stream and folder, so nothing above moves): written and generated
    # questions with their intent, and a share of word strings for the ASR stage
    if FLITE_UTTERANCES > 0:
        import shutil
        if shutil.which("flite") is None:
            raise SystemExit("DEMO_FLITE_UTTERANCES needs Debian's flite (apt-get install flite)")
        os.makedirs(os.path.join(base, "train_flite"), exist_ok=True)
        fl_rnd = random.Random(C.SEED + 4000)
        for k in range(4 if C.SMOKE else FLITE_UTTERANCES):
            ii, name, text = question_or_words(fl_rnd)
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
    def generated_voices(prefix, n, names, stream, question_base, flag):
        """n training utterances (80 % questions with their intent, 20 % word strings) in the training voices, each
        with one of the generated variants names (prefix rv or ra), into audio/train_PREFIX/"""
        check_speakable(work_copy(prefix, tv), tv["voices"], names)
        os.makedirs(os.path.join(base, f"train_{prefix}"), exist_ok=True)
        for k in range(4 if C.SMOKE else n):
            ii, name, text = question_or_words(stream)
            voice, _, speed, pitch, codec, gain, lead, tail = draw(tv, stream)
            variant = stream.choice(names)
            path = os.path.join(base, f"train_{prefix}", f"{prefix}_{k:05d}.wav")
            jobs.append((path, text, voice, variant, speed, pitch, codec, gain, lead, tail))
            manifest.append({"path": os.path.relpath(path, C.WORK), "split": "train" if ii >= 0 else "asr_extra",
                             "intent": name, "intent_index": ii, "question": question_base + k, "text": text,
                             "voice": voice, "variant": variant, "speed": speed, "pitch": pitch, "codec": codec,
                             flag: True})
    # random voices (session 13) and random accents (session 24): training only, each its own random streams and folder
    if RV_UTTERANCES > 0:
        rv_rnd = random.Random(C.SEED + 5000)
        generated_voices("rv", RV_UTTERANCES, write_random_variants(4 if C.SMOKE else RV_VARIANTS, C.SEED + 5001, tv),
                         rv_rnd, 6000, "random_variant")
    if RA_UTTERANCES > 0:
        ra_rnd = random.Random(C.SEED + 8000)
        generated_voices("ra", RA_UTTERANCES, write_random_accents(4 if C.SMOKE else RA_VARIANTS, C.SEED + 8001, tv),
                         ra_rnd, 9000, "random_accent")
    C.log("data", f"{len(jobs)} utterances to render ({sum(m['split'] == 'train' for m in manifest)} train)")
    with Pool(2) as pool:
        for i, _ in enumerate(pool.imap_unordered(render, jobs, chunksize=8)):
            if (i + 1) % 500 == 0:
                C.log("data", f"{i + 1}/{len(jobs)}")
    # where the phonemes lie (espeak_align.py), also for utterances rendered before the aligner existed: one pool per
    # espeak-ng data directory (the installed one, the work directory's copy with the random variants), because a
    # process starts libespeak-ng for one
    espeak_jobs = [j for j in jobs if not j[2].startswith("flite:") and "/asr_chain/" not in j[0]
                   and not os.path.exists(j[0][:-4] + ".align")]
    for group in [[j for j in espeak_jobs if copy_dir(j[3]) == d] for d in
                  [None] + [os.path.join(C.WORK, f) for f in WORK_COPIES.values()]]:
        if group:
            with Pool(2) as pool:
                for i, _ in enumerate(pool.imap_unordered(align, group, chunksize=16)):
                    if (i + 1) % 2000 == 0:
                        C.log("data", f"aligned {i + 1}/{len(group)}")
    C.log("data", f"aligned {len(espeak_jobs)} utterances")
    for m in manifest:
        with open(os.path.join(C.WORK, m["path"][:-4] + ".ipa")) as f:
            m["ipa"] = f.read()
        if os.path.exists(os.path.join(C.WORK, m["path"][:-4] + ".align")):  # none for flite
            with open(os.path.join(C.WORK, m["path"][:-4] + ".align")) as f:
                m["align"] = json.load(f)
    with open(os.path.join(base, "manifest.json.tmp"), "w") as f:  # a new file: never a hard link's other name
        json.dump(manifest, f, indent=0)
    os.replace(os.path.join(base, "manifest.json.tmp"), os.path.join(base, "manifest.json"))
    C.log("data", f"done: {len(manifest)} utterances")


if __name__ == "__main__":
    sys.exit(main())
