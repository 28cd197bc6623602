"""Probe: how much of the intent do the words alone carry, and how much of it reaches the transcripts? A bag-of-words
classifier (words and word pairs, logistic regression) learns the intents from the training question texts (intents.json
"train" + the generated templates, DEMO_TEMPLATES_PER_INTENT as data.py draws them), then reads
  - the written test and dev questions: the ceiling a perfect transcript would give;
  - the Java runtime's caller transcripts of the held-out and dev files (check_java.py's eval_out.json in DEMO_WORK),
beside the runtime's own replies to the same files (exact answer). Session 18 on the committed brain: written test 34/36,
dev 31/36; transcripts held-out 82/108, dev 56/108; LLM replies 90/108, 65/108.

    DEMO_WORK=work DEMO_CHECKPOINT=../checkpoint /usr/bin/python3 check_java.py   # writes eval_in/eval_out.json
    DEMO_WORK=work /usr/bin/python3 probe_text.py"""
import json
import os
import re
import sys

import torch
import torch.nn.functional as F

import common as C

PER_INTENT = int(os.environ.get("DEMO_TEMPLATES_PER_INTENT", "500"))


def features(text):
    words = re.findall(r"[a-z']+", text.lower())
    return words + [a + "_" + b for a, b in zip(words, words[1:])]


class BagOfWords:
    def __init__(self, texts, labels, n_classes, steps=300):
        self.vocab = {}
        for t in texts:
            for f in features(t):
                self.vocab.setdefault(f, len(self.vocab))
        x = torch.stack([self.vector(t) for t in texts])
        y = torch.tensor(labels)
        self.w = torch.zeros(len(self.vocab), n_classes, requires_grad=True)
        self.b = torch.zeros(n_classes, requires_grad=True)
        opt = torch.optim.Adam([self.w, self.b], lr=0.05)
        for _ in range(steps):
            loss = F.cross_entropy(x @ self.w + self.b, y) + 1e-4 * (self.w ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()

    def vector(self, text):
        v = torch.zeros(len(self.vocab))
        for f in features(text):
            if f in self.vocab:
                v[self.vocab[f]] = 1.0
        return v

    def predict(self, text):
        with torch.no_grad():
            return int((self.vector(text) @ self.w + self.b).argmax())


def main():
    C.setup()
    spec = C.intents()
    generated = C.template_questions(spec, PER_INTENT, C.SEED)
    texts, labels = [], []
    for ii, it in enumerate(spec["intents"]):
        for q in it["train"] + generated.get(it["name"], []):
            texts.append(q)
            labels.append(ii)
    model = BagOfWords(texts, labels, len(spec["intents"]))
    result = {"training_texts": len(texts), "features": len(model.vocab)}
    for split in ("test", "dev"):
        asked = [(q, ii) for ii, it in enumerate(spec["intents"]) for q in it.get(split, [])]
        result[f"written_{split}"] = f"{sum(model.predict(q) == ii for q, ii in asked)}/{len(asked)}"
        result[f"written_{split}_missed"] = [q for q, ii in asked if model.predict(q) != ii]
    with open(os.path.join(C.WORK, "eval_in.json")) as f:
        asked = json.load(f)
    with open(os.path.join(C.WORK, "eval_out.json")) as f:
        answered = json.load(f)
    names = [it["name"] for it in spec["intents"]]
    answers = [it["answer"] for it in spec["intents"]]
    for split in ("heldout", "dev"):
        heard = replied = n = 0
        for a, o in zip(asked, answered):
            if a["history"] or f"{os.sep}{split}{os.sep}" not in a["wav"]:
                continue
            base = os.path.basename(a["wav"])
            ii = next(k for k, name in enumerate(names) if base.startswith(name + "_"))
            n += 1
            heard += model.predict(o.get("transcript", "")) == ii
            replied += o["reply"].strip() == answers[ii]
        result[f"{split}_transcripts"] = f"{heard}/{n}"
        result[f"{split}_replies"] = f"{replied}/{n}"
    C.log("probe", json.dumps(result))
    with open(os.path.join(C.WORK, "probe_text.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
