"""Stage 0: the vocabularies. One byte-level BPE learned on the domain's text (answers, prompt, training
questions; answers and prompt weighted so that their words become single tokens), written twice:
- checkpoint/tokenizer.json for the LLM (HF tokenizers: ByteLevel pre-tokenizer, BPE model, 256 byte
  tokens then the merges, then the Llama-3 special tokens as added tokens), loaded by DJL in the runtime;
- checkpoint/speech_encoder/multilingual.tiktoken for the Whisper decoder (tiktoken format: base64 bytes and
  rank per line; whisper's special tokens follow the base ranks in the runtime's WhisperTokenizer).
Also work/bpe.json (merges, ids) for the other stages."""
import base64
import collections
import json
import os
import re
import string
import sys

import common as C

N_MERGES = 700
LLAMA_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                  "<|eom_id|>", "<|eot_id|>"]
SYSTEM = ("You are a helpful language and speech assistant. You are able to understand the speech content that "
          "the user provides, and assist the user with a variety of tasks using natural language.")
INSTRUCTION = "Please directly answer the questions in the user's speech."
UNTRANSCRIBED = "(spoken question)"
# GPT-2's pre-tokenizer pattern (what HF ByteLevel use_regex and whisper's tiktoken pattern apply), ASCII letters
PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def byte_alphabet():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    m, n = {}, 0
    for b in range(256):
        if b in printable:
            m[b] = chr(b)
        else:
            m[b] = chr(256 + n)
            n += 1
    return m


B2U = byte_alphabet()
U2B = {v: k for k, v in B2U.items()}


def pieces(text):
    return PAT.findall(text)


def apply_merge(words, best):
    new = {}
    for w, f in words.items():
        out, i = [], 0
        while i < len(w):
            if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                out.append(w[i] + w[i + 1])
                i += 2
            else:
                out.append(w[i])
                i += 1
        new[tuple(out)] = new.get(tuple(out), 0) + f
    return new


def learn(corpus, n_merges):
    words = collections.Counter()
    for text, weight in corpus:
        for p in pieces(text):
            words[tuple(B2U[b] for b in p.encode())] += weight
    words = dict(words)
    # first merges: a space joins the character after it, so a bare space token never occurs before a letter,
    # digit, ' or - (whisper suppresses the first token of " '" and " -", and a blank first token)
    space = B2U[ord(" ")]
    merges = [(space, ch) for ch in string.ascii_letters + string.digits + "'-"]
    for m in merges:
        words = apply_merge(words, m)
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, f in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += f
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        if pairs[best] < 2:
            break
        merges.append(best)
        words = apply_merge(words, best)
    return merges


class Bpe:
    """Byte-level BPE applied as HF tokenizers does (lowest-rank pair first); no special tokens."""

    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.rank = {m: i for i, m in enumerate(self.merges)}
        self.vocab = {B2U[b]: b for b in range(256)}
        for a, b in self.merges:
            self.vocab.setdefault(a + b, len(self.vocab))
        self.inv = {i: t for t, i in self.vocab.items()}

    def word(self, w):
        parts = list(w)
        while len(parts) > 1:
            best, bi = None, -1
            for i in range(len(parts) - 1):
                r = self.rank.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            parts[bi:bi + 2] = [parts[bi] + parts[bi + 1]]
        return [self.vocab[p] for p in parts]

    def encode(self, text):
        ids = []
        for p in pieces(text):
            ids += self.word("".join(B2U[b] for b in p.encode()))
        return ids

    def token_bytes(self, i):
        return bytes(U2B[c] for c in self.inv[i])

    def decode(self, ids):
        return b"".join(self.token_bytes(i) for i in ids if i in self.inv).decode("utf-8", "replace")


def corpus():
    spec = C.intents()
    out = [(SYSTEM, 40), (INSTRUCTION, 40), (UNTRANSCRIBED, 10), ("system user assistant", 40), ("system", 40), ("user", 40), ("assistant", 40)]
    for it in spec["intents"]:
        out.append((it["answer"], 40))
        out.append((" " + it["answer"], 10))
        for q in it["train"]:
            out.append((q, 2))
            out.append((" " + q, 3))  # the Whisper decoder's text starts with a space, as whisper's does
    return out


def tokenizer_json(bpe, n_base):
    specials = [{"id": n_base + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": True} for i, s in enumerate(LLAMA_SPECIALS)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    bos = "<|begin_of_text|>"
    piece_bos = {"SpecialToken": {"id": bos, "type_id": 0}}
    piece_seq = {"Sequence": {"id": "A", "type_id": 0}}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": specials, "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": {"type": "TemplateProcessing", "single": [piece_bos, piece_seq],
                           "pair": [piece_bos, piece_seq],
                           "special_tokens": {bos: {"id": bos, "ids": [n_base], "tokens": [bos]}}},
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": dict(sorted(bpe.vocab.items(), key=lambda kv: kv[1])),
                  "merges": [a + " " + b for a, b in bpe.merges]},
    }


def main():
    C.setup()
    merges = learn(corpus(), 30 if C.SMOKE else N_MERGES)
    bpe = Bpe(merges)
    n_base = len(bpe.vocab)
    os.makedirs(os.path.join(C.CHECKPOINT, "speech_encoder"), exist_ok=True)
    with open(os.path.join(C.CHECKPOINT, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(bpe, n_base), f, ensure_ascii=False)
    # tiktoken: the same ranks (bytes first, then merges), base64 of each token's bytes
    with open(os.path.join(C.CHECKPOINT, "speech_encoder", "multilingual.tiktoken"), "w") as f:
        for i in range(n_base):
            f.write(base64.b64encode(bpe.token_bytes(i)).decode() + " " + str(i) + "\n")
    llama = {s: n_base + i for i, s in enumerate(LLAMA_SPECIALS)}
    with open(os.path.join(C.WORK, "bpe.json"), "w") as f:
        json.dump({"merges": merges, "n_base": n_base, "llama_specials": llama,
                   "llm_vocab_size": n_base + len(LLAMA_SPECIALS)}, f)
    spec = C.intents()
    lens = [len(bpe.encode(it["answer"])) for it in spec["intents"]]
    C.log("bpe", f"{len(merges)} merges, base vocab {n_base}, answer tokens {lens}, system prompt "
                 f"{len(bpe.encode(SYSTEM))} tokens")


if __name__ == "__main__":
    sys.exit(main())
