"""Stage 6: the checkpoint in the published LLaMA-Omni layout, fp16:
- config.json (OmniConfig's names; the encoder and Whisper decoder in the file `speech_encoder` names),
- model-00001-of-00002.safetensors (adaptor + LLM), model-00002-of-00002.safetensors (CTC speech generator),
  model.safetensors.index.json,
- speech_encoder/large-v3.pt: torch.save({"dims", "model_state_dict"}) with openai's encoder.* and decoder.*,
- tokenizer.json and speech_encoder/multilingual.tiktoken (written by bpe.py), vocoder/ (the voice stage).
Also `--compare STAGES WAV`: PyTorch on the exported fp16 weights vs a Java DumpStages dump of WAV, and
`--decoder-only`: only the Whisper file, with decoder.py's decoder (export_decoder_only)."""
import json
import os
import sys

import torch
import torch.nn.functional as F

import common as C

SHARD_LLM = "model-00001-of-00002.safetensors"
SHARD_GEN = "model-00002-of-00002.safetensors"
ENCODER_FILE = "speech_encoder/large-v3.pt"


def config_json(c, bpe):
    sp = bpe["llama_specials"]
    return {
        "architectures": ["OmniSpeech2SLlamaForCausalLM"],
        "model_type": "omni_speech2s_llama",
        "hidden_size": c["hidden_size"], "intermediate_size": c["intermediate_size"],
        "num_attention_heads": c["num_attention_heads"], "num_key_value_heads": c["num_key_value_heads"],
        "num_hidden_layers": c["num_hidden_layers"], "rms_norm_eps": c["rms_norm_eps"],
        "rope_theta": c["rope_theta"], "vocab_size": c["vocab_size"], "max_position_embeddings": 4096,
        "bos_token_id": sp["<|begin_of_text|>"],
        "eos_token_id": [sp["<|end_of_text|>"], sp["<|eom_id|>"], sp["<|eot_id|>"]],
        "tie_word_embeddings": False, "torch_dtype": "float16",
        "speech_encoder_type": "whisper", "speech_encoder": ENCODER_FILE,
        "speech_encoder_ds_rate": c["speech_encoder_ds_rate"],
        "speech_encoder_hidden_size": c["speech_encoder_hidden_size"],
        "speech_encoder_num_heads": c["speech_encoder_num_heads"],
        "speech_encoder_num_layers": c["speech_encoder_num_layers"],
        "speech_projector_type": "linear", "speech_projector_hidden_size": c["speech_projector_hidden_size"],
        "speech_generator_type": "ctc", "ctc_decoder_config": c["ctc_decoder_config"],
        "ctc_upsample_factor": c["ctc_upsample_factor"], "unit_vocab_size": c["unit_vocab_size"],
    }


def half(sd, prefix=""):
    return {prefix + k: v.detach().to(torch.float16).clone().contiguous() for k, v in sd.items()}


def export():
    with open(os.path.join(C.WORK, "bpe.json")) as f:
        bpe = json.load(f)
    asr = torch.load(os.path.join(C.WORK, "asr.pt"))
    llm = torch.load(os.path.join(C.WORK, "llm.pt"))
    ctc = torch.load(os.path.join(C.WORK, "ctc.pt"))
    dims = asr["dims"]
    c = dict(ctc["config"], speech_encoder_num_heads=dims["n_audio_head"],
             speech_encoder_num_layers=dims["n_audio_layer"])
    out = C.CHECKPOINT
    os.makedirs(os.path.join(out, "speech_encoder"), exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_json(c, bpe), f, indent=2)
    shards = {SHARD_LLM: half(llm["model"]), SHARD_GEN: half(ctc["model"], "speech_generator.")}
    weight_map, total = {}, 0
    for name, tensors in shards.items():
        total += C.save_safetensors(os.path.join(out, name), dict(sorted(tensors.items())), {"format": "pt"})
        weight_map.update({k: name for k in tensors})
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    export_whisper(asr, out)
    sizes = {}
    for root, _, files in os.walk(out):
        for fn in files:
            p = os.path.join(root, fn)
            sizes[os.path.relpath(p, out)] = os.path.getsize(p)
    C.log("export", f"{out}: {sum(sizes.values()) / 1e6:.1f} MB in all: " +
          ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sorted(sizes.items())))


def export_whisper(asr, out):
    torch.save({"dims": dict(asr["dims"]), "model_state_dict": half(asr["model"])}, os.path.join(out, ENCODER_FILE))


def export_decoder_only():
    """`--decoder-only`: the checkpoint's Whisper file rewritten with work/asr.pt's decoder (decoder.py), the encoder
    left as it is: the adaptor, LLM and CTC stages were trained on that encoder's outputs, so its fp16 weights must
    equal work/asr.pt's to the bit, else this refuses."""
    asr = torch.load(os.path.join(C.WORK, "asr.pt"))
    path = os.path.join(C.CHECKPOINT, ENCODER_FILE)
    have = torch.load(path)["model_state_dict"]
    new = half(asr["model"])
    enc = [k for k in have if k.startswith("encoder.")]
    differ = [k for k in enc if k not in new or not torch.equal(have[k], new[k])]
    if differ or len(enc) != sum(k.startswith("encoder.") for k in new):
        raise SystemExit(f"{path}: its encoder is not work/asr.pt's (first differing tensor: {(differ or enc)[0]}); "
                         f"run the whole export")
    export_whisper(asr, C.CHECKPOINT)
    C.log("export", f"{path}: decoder of {asr['dims']['n_text_layer']} block(s) written, encoder unchanged")


def load_exported():
    """The exported files read back (fp16 -> fp32), as PyTorch modules."""
    out = C.CHECKPOINT
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    tensors = {}
    for name in (SHARD_LLM, SHARD_GEN):
        tensors.update(C.load_safetensors(os.path.join(out, name)))
    w = torch.load(os.path.join(out, ENCODER_FILE))
    whisper = C.Whisper(w["dims"])
    whisper.load_state_dict({k: v.float() for k, v in w["model_state_dict"].items()})
    lm = C.OmniLM(cfg)
    lm.load_state_dict({k: v.float() for k, v in tensors.items() if not k.startswith("speech_generator.")})
    gen = C.SpeechGenerator(cfg)
    gen.load_state_dict({k[len("speech_generator."):]: v.float() for k, v in tensors.items()
                         if k.startswith("speech_generator.")})
    return cfg, whisper.eval(), lm.eval(), gen.eval()


@torch.no_grad()
def compare(stages_file, wav):
    """Every stage of PyTorch (exported weights) vs the Java dump, the Java prompt ids and tokens as input."""
    j = C.load_safetensors(stages_file)
    cfg, whisper, lm, gen = load_exported()
    mel = C.log_mel(C.read_wav16k(wav))
    res = {}
    res["log_mel"] = (mel - j["log_mel"].float()).abs().max().item()
    enc = whisper.encoder(j["log_mel"].float()[None])[0][0]
    res["encoder_out"] = (enc - j["encoder_out"].float()).abs().max().item()
    rows = lm.model.speech_projector(j["encoder_out"].float())
    res["adaptor_out"] = (rows - j["adaptor_out"].float()).abs().max().item()
    keys = j["prompt_keys"].tolist()
    toks = j["token_ids"].tolist()
    e = lm.model.embed_tokens
    parts, r = [], 0
    for k in keys:
        if k >= 0:
            parts.append(e(torch.tensor([k])))
        else:
            parts.append(j["adaptor_out"].float()[r:r + 1])
            r += 1
    x = torch.cat(parts + [e(torch.tensor(toks[:-1]))], 0) if len(toks) > 1 else torch.cat(parts, 0)
    h = lm.hidden(x[None])[0]
    states = h[len(keys) - 1:]
    res["speech_decoder_input"] = (states - j["speech_decoder_input"].float()).abs().max().item()
    greedy = lm.lm_head(states).argmax(-1).tolist()
    res["greedy_tokens_equal"] = greedy == toks
    logits = gen(j["speech_decoder_input"].float()[None])[0]
    res["ctc_logits"] = (logits - j["ctc_logits"].float()).abs().max().item()
    res["ctc_labels_equal"] = logits.argmax(-1).tolist() == j["ctc_labels"].tolist()
    C.log("compare", json.dumps(res))
    return res


if __name__ == "__main__":
    C.setup()
    if len(sys.argv) > 1 and sys.argv[1] == "--compare":
        r = compare(sys.argv[2], sys.argv[3])
        ok = r["log_mel"] < 2e-3 and r["encoder_out"] < 2e-3 and r["adaptor_out"] < 2e-3 and \
            r["speech_decoder_input"] < 2e-3 and r["ctc_logits"] < 5e-3 and r["greedy_tokens_equal"]
        sys.exit(0 if ok else 1)
    if len(sys.argv) > 1 and sys.argv[1] == "--decoder-only":
        export_decoder_only()
    else:
        export()
