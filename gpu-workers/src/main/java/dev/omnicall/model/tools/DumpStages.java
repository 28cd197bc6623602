package dev.omnicall.model.tools;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.omni.CtcUnitDecoder;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import dev.omnicall.model.omni.UnitVocoder;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.SafeTensorsWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs the chain once on a WAV (16 kHz mono 16-bit) and writes every stage's output to one safetensors
 * file (names in the README): for comparing with the Python reference stage by stage.
 *
 * <pre>
 * java -cp ... dev.omnicall.model.tools.DumpStages [--checkpoint DIR] [--wav FILE] [--out FILE]
 *     [--max-tokens N] [--padded-seconds S] [--device cpu|gpu:N]
 * </pre>
 * Without --checkpoint it writes and uses the tiny checkpoint in .omnicall/tiny-checkpoint; without
 * --wav it uses a synthetic 2 s signal.
 */
public final class DumpStages {
    private DumpStages() {
    }

    public static void main(String[] args) throws Exception {
        Args a = new Args(args);
        Path ckpt = a.has("--checkpoint") ? Path.of(a.get("--checkpoint"))
                : TinyCheckpointWriter.writeIfAbsent(Path.of(".omnicall", "tiny-checkpoint"), 1L);
        Path out = Path.of(a.get("--out", "stages.safetensors"));
        int maxTokens = Integer.parseInt(a.get("--max-tokens", "64"));
        ModelOptions options = ModelOptions.defaults().withDevice(a.get("--device", "cpu"))
                .withPaddedSeconds(Double.parseDouble(a.get("--padded-seconds", "30")));
        float[] audio = a.has("--wav") ? WavFiles.read16k(Path.of(a.get("--wav"))) : Benchmarks.syntheticSpeech(2.0);
        try (OmniModel model = OmniModel.load(ckpt, options)) {
            SafeTensorsWriter w = new SafeTensorsWriter().metadata("checkpoint", ckpt.toString())
                    .metadata("padded_seconds", Double.toString(options.paddedSeconds()));
            // log-mel, encoder, adaptor
            NDArray mel = model.frontend().forward(model.manager(), audio);
            put(w, "log_mel", mel);
            NDArray encoded = model.encoder().forward(mel);
            put(w, "encoder_out", encoded);
            NDArray speech = model.adaptor().forward(encoded);
            put(w, "adaptor_out", speech);
            // prompt and greedy decoding, keeping the states the speech decoder reads
            Prompt prompt = model.prompt(speech, List.of(), -1);
            w.putLongs("prompt_keys", new long[] {prompt.keys().length}, prompt.keys());
            LlamaModel llm = model.llm();
            List<Long> tokens = new ArrayList<>();
            NDList states = new NDList();
            try (KvCache cache = llm.newCache(prompt.keys().length + maxTokens + 1L)) {
                LlamaModel.Output o = llm.forward(prompt.embeddings(), cache, prompt.keys());
                NDArray state = o.hidden().get(prompt.keys().length - 1);
                long token = o.lastLogits().argMax().getLong();
                while (true) {
                    states.add(state);
                    tokens.add(token);
                    if (model.isEos(token) || tokens.size() >= maxTokens) {
                        break;
                    }
                    LlamaModel.Output step = llm.decodeBatch(new long[] {token}, List.of(cache));
                    state = step.hidden().get(0);
                    token = step.lastLogits().get(0).argMax().getLong();
                }
            }
            long[] ids = tokens.stream().mapToLong(Long::longValue).toArray();
            w.putLongs("token_ids", new long[] {ids.length}, ids);
            NDArray hidden = NDArrays.stack(states);
            put(w, "speech_decoder_input", hidden);
            // CTC decoder over all states, greedy labels, collapse
            CtcUnitDecoder.Offline ctc = model.ctc().offline(hidden);
            put(w, "ctc_logits", ctc.logits());
            w.putLongs("ctc_labels", new long[] {ctc.labels().length}, ctc.labels());
            long[] units = java.util.Arrays.stream(ctc.units()).asLongStream().toArray();
            w.putLongs("units", new long[] {units.length}, units);
            // vocoder
            UnitVocoder.Synthesis syn = model.vocoder().synthesize(ctc.units());
            long[] durations = java.util.Arrays.stream(syn.durations()).asLongStream().toArray();
            w.putLongs("durations", new long[] {durations.length}, durations);
            w.putFloats("waveform", DType.F32, new long[] {syn.audio().length}, syn.audio());
            w.write(out);
            System.out.printf("wrote %s: %d mel frames, %d speech rows, %d tokens (%s), %d units, %.2f s audio%n", out,
                    mel.getShape().get(1), speech.getShape().get(0), ids.length,
                    model.tokenizer().decode(ids).replace("\n", " "), units.length, syn.audio().length / 16000.0);
        }
    }

    private static void put(SafeTensorsWriter w, String name, NDArray x) {
        w.putFloats(name, DType.F32, x.getShape().getShape(), x.toType(DataType.FLOAT32, false).toFloatArray());
    }

    /** --key value arguments. */
    static final class Args {
        private final java.util.Map<String, String> values = new java.util.HashMap<>();

        Args(String[] args) {
            for (int i = 0; i < args.length; i++) {
                if (!args[i].startsWith("--") || i + 1 >= args.length) {
                    throw new IllegalArgumentException("expected --key value pairs, got " + String.join(" ", args));
                }
                values.put(args[i], args[++i]);
            }
        }

        boolean has(String key) {
            return values.containsKey(key);
        }

        String get(String key) {
            return values.get(key);
        }

        String get(String key, String fallback) {
            return values.getOrDefault(key, fallback);
        }
    }
}
