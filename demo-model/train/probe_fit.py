"""Is stage 3 under-trained or over-fitted? Its phoneme error rate (the auxiliary CTC head, greedy), caller-text WER
(the joint decoder, greedy) and intent head on a sample of its own training utterances, unaugmented (the written
questions, the ASR-only word strings) beside the held-out and dev sets. `probe_fit.py ASR_PT [N]` (N per group,
default 100), on DEMO_WORK's features. Prints a line per group and a key=value line."""
import random
import sys

import torch

import asr as A
import common as C


def main():
    C.setup()
    vb, bpe, sp, n_vocab = A.vocabularies()
    man, mels, train, held, dev = A.load_features()
    state = torch.load(sys.argv[1])
    phones = state["phonemes"]
    phone_id = {c: k for k, c in enumerate(phones)}
    model = C.Whisper(state["dims"])
    model.load_state_dict(state["model"])
    model.eval()
    width = state["dims"]["n_audio_state"]
    intent_head = torch.nn.Linear(width, len(C.intents()["intents"]))
    intent_head.load_state_dict(state["intent_head"])
    ctc_head = torch.nn.Linear(width, len(phones) + 1)
    ctc_head.load_state_dict(state["ctc_head"])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    rnd = random.Random(C.SEED)
    groups = {"train_written": [i for i in train if man[i]["split"] == "train" and not man[i].get("generated")
                                and "/train/" in "/" + man[i]["path"]],
              "train_words": [i for i in train if man[i]["split"] == "asr_extra"], "heldout": held, "dev": dev}
    figures = {}
    for name, indices in groups.items():
        indices = rnd.sample(indices, min(n, len(indices)))
        errs = words = perr = plen = right = labelled = 0
        with torch.no_grad():
            for i in indices:
                e, w = A.wer(man[i]["text"], bpe.decode(A.transcribe(model, mels[i], sp, 40)).strip())
                errs, words = errs + e, words + w
                xa, _ = model.encoder(mels[i][None].float())
                if man[i]["intent_index"] >= 0:
                    right += int(intent_head(xa.mean(1)).argmax()) == man[i]["intent_index"]
                    labelled += 1
                hyp = C.ctc_collapse(ctc_head(xa[0]).argmax(-1).tolist(), len(phones))
                ref = [phone_id[c] for c in A.phoneme_symbols(man[i].get("ipa", "")) if c in phone_id]
                perr, plen = perr + C.edit_distance(ref, hyp), plen + len(ref)
        figures[name] = (perr / max(1, plen), errs / max(1, words))
        C.log("probe_fit", f"{name}: {len(indices)} utterances, phoneme error rate {figures[name][0]:.3f}, "
                           f"caller-text WER {figures[name][1]:.3f}, intent head {right}/{labelled}")
    print(" ".join(f"{k}_per={v[0]:.3f} {k}_wer={v[1]:.3f}" for k, v in figures.items()), flush=True)


if __name__ == "__main__":
    sys.exit(main())
