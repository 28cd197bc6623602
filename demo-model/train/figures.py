"""Prints the brain stages' figures (work/*_result.json, the checkpoint's files) as the README's markdown table."""
import json
import os

import torch

import common as C


def load(name):
    p = os.path.join(C.WORK, name)
    return json.load(open(p)) if os.path.exists(p) else {}


def main():
    asr, llm, ctc, java = load("asr_result.json"), load("llm_result.json"), load("ctc_result.json"), load("java_result.json")
    dec = load("decoder_result.json")  # stage 3b: its decoder is the one exported, so its WER is the PyTorch figure
    if dec:
        asr = dict(asr, caller_text_wer=dec["after"]["heldout"]["caller_text_wer"])
    cfg = json.load(open(os.path.join(C.CHECKPOINT, "config.json")))
    w = torch.load(os.path.join(C.CHECKPOINT, "speech_encoder", "large-v3.pt"))["model_state_dict"]
    enc = sum(v.numel() for k, v in w.items() if k.startswith("encoder.") and "positional" not in k)
    dec_n = sum(v.numel() for k, v in w.items() if k.startswith("decoder."))
    idx = json.load(open(os.path.join(C.CHECKPOINT, "model.safetensors.index.json")))["weight_map"]
    t = {}
    for shard in set(idx.values()):
        t.update(C.load_safetensors(os.path.join(C.CHECKPOINT, shard)))
    ad = sum(v.numel() for k, v in t.items() if k.startswith("model.speech_projector."))
    gen = sum(v.numel() for k, v in t.items() if k.startswith("speech_generator."))
    llm_n = sum(v.numel() for k, v in t.items()) - ad - gen
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(C.CHECKPOINT) for f in fs)
    print("| block | shape | parameters |\n|---|---|---|")
    print(f"| Whisper encoder | d {cfg['speech_encoder_hidden_size']}, {cfg['speech_encoder_num_layers']} blocks, "
          f"{cfg['speech_encoder_num_heads']} heads, 128 mels | {enc:,} (+ fixed positions) |")
    print(f"| Whisper decoder | n_vocab {w['decoder.token_embedding.weight'].shape[0]}, "
          f"{len({k.split('.')[2] for k in w if k.startswith('decoder.blocks.')})} block(s), tied embedding | {dec_n:,} |")
    print(f"| adaptor | k={cfg['speech_encoder_ds_rate']}, hidden {cfg['speech_projector_hidden_size']} | {ad:,} |")
    print(f"| LLM | hidden {cfg['hidden_size']}, {cfg['num_hidden_layers']} layers, {cfg['num_attention_heads']}/"
          f"{cfg['num_key_value_heads']} heads, FFN {cfg['intermediate_size']}, vocab {cfg['vocab_size']} | {llm_n:,} |")
    print(f"| CTC unit decoder | {cfg['ctc_decoder_config']}, λ={cfg['ctc_upsample_factor']}, "
          f"{cfg['unit_vocab_size']} units + blank | {gen:,} |")
    print(f"\ncheckpoint size: {size / 1e6:.1f} MB\n")
    print("| figure | value |\n|---|---|")
    print(f"| train time: Whisper encoder+decoder (stage 3) | {asr.get('train_seconds', '?')} s |")
    if dec:
        print(f"| train time: deeper Whisper decoder (stage 3b) | {dec['train_seconds']} s (+ {dec['encode_seconds']} s "
              f"of encoder outputs) |")
    print(f"| train time: adaptor + LLM (stage 4) | {llm.get('train_seconds', '?')} s |")
    print(f"| train time: CTC unit decoder (stage 5) | {ctc.get('train_seconds', '?')} s |")
    print(f"| PyTorch: held-out exact answer, no history / with history | {llm.get('heldout_exact_answer_no_history')} / "
          f"{llm.get('heldout_exact_answer_with_history')} |")
    n = java.get("heldout_utterances", "?")
    print(f"| Java runtime: held-out exact reply, no history / with history | {java.get('reply_exact_no_history')}/{n} / "
          f"{java.get('reply_exact_with_history')}/{n} |")
    print(f"| Java runtime: intents whose held-out questions are mostly answered right | "
          f"{java.get('intents_majority_right')}/12 |")
    print(f"| caller-text WER, PyTorch greedy / Java transcriber | {asr.get('caller_text_wer', float('nan')):.3f} / "
          f"{java.get('caller_text_wer_java', float('nan')):.3f} |")
    print(f"| CTC: exact unit sequences / unit error rate (edit distance), greedy on training states | "
          f"{ctc.get('exact_unit_sequences')} / {ctc.get('unit_error_rate', '?')} |")
    cmp_ = java.get("compare", {})
    print(f"| Java vs PyTorch on `{java.get('compare_file')}`: max abs diff log-mel / encoder / adaptor / LLM states / "
          f"CTC logits | {cmp_.get('log_mel', 0):.1e} / {cmp_.get('encoder_out', 0):.1e} / {cmp_.get('adaptor_out', 0):.1e} / "
          f"{cmp_.get('speech_decoder_input', 0):.1e} / {cmp_.get('ctc_logits', 0):.1e}; same greedy tokens: "
          f"{cmp_.get('greedy_tokens_equal')}, same CTC labels: {cmp_.get('ctc_labels_equal')} |")


if __name__ == "__main__":
    main()
