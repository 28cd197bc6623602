"""A checkpoint's adaptor + LLM and CTC stage back as the trainer's work files (session 27), so `ctc.py` can measure a
committed or exported brain with today's evaluation: DEMO_CHECKPOINT = the checkpoint read, argv[1] = an llm.pt of the
same tokenizer (its answer ids, specials and config are kept; its weights are not), argv[2] = the directory written:
llm.pt (the checkpoint's LLM) and ctc_checkpoint.pt (its CTC stage, for DEMO_CTC_EVAL)."""
import os
import sys

import torch

import common as C
import export as X


def main():
    template, out = sys.argv[1:3]
    cfg, _, lm, gen = X.load_exported()
    st = torch.load(template)
    for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"):
        if st["config"][k] != cfg[k]:
            raise SystemExit(f"{template}: {k} {st['config'][k]} but the checkpoint has {cfg[k]}")
    torch.save(dict(st, model=lm.state_dict()), os.path.join(out, "llm.pt"))
    ctc_config = dict(st["config"], ctc_decoder_config=cfg["ctc_decoder_config"],
                      ctc_upsample_factor=cfg["ctc_upsample_factor"], unit_vocab_size=cfg["unit_vocab_size"])
    torch.save({"config": ctc_config, "model": gen.state_dict()}, os.path.join(out, "ctc_checkpoint.pt"))
    C.log("checkpoint_pt", f"{C.CHECKPOINT} -> {out}/llm.pt, ctc_checkpoint.pt (CTC {cfg['ctc_decoder_config']}, "
                           f"λ={cfg['ctc_upsample_factor']}, {cfg['unit_vocab_size']} units)")


if __name__ == "__main__":
    sys.exit(main())
