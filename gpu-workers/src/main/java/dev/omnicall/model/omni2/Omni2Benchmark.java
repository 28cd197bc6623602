package dev.omnicall.model.omni2;

import static dev.omnicall.model.tools.BenchmarkFigures.loadAverage;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.TorchThreads;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * LLaMA-Omni2's reply loop at the published 0.5B shapes with random weights (issue 13 item 10), on the CPU or a
 * GPU: the Qwen2.5-0.5B LLM (896 wide, 24 layers, 14/2 heads, FFN 4864, vocab 151936, tied), the TTS LM of the same
 * shape (vocab 158227) with its gated fusion, CosyVoice2's flow and HiFT; R = 3, W = 10. The prompt is
 * {@code bench.prompt} rows of random embeddings (the Whisper encoder and adaptor are not timed: their cost is the
 * LLaMA-Omni one, shared). Measured, in one reply of {@code bench.tokens} text tokens (greedy, stop ids ignored):
 * <ul>
 * <li>first audio, the model part: prefill → the first 24 kHz samples out of the speech stream;</li>
 * <li>the cost of a text token at token 20 and at token {@code bench.tokens}: the LLM step, and the TTS share (the
 * writes of the R-token window around it divided by R);</li>
 * <li>flow + HiFT: the first {@code bench.speech-pushes} (3) writes' pushes through the speech stream, their time over
 * the audio they made (real-time factor); later writes are not vocoded (at the published sizes flow + HiFT is the
 * slow part on a CPU, and its cost per push does not grow along a reply: {@link Omni2StreamBenchmark});</li>
 * <li>peak resident memory (VmHWM).</li>
 * </ul>
 * {@code -Dbench.layers=N} runs N of the 24 layers in both LMs (a scaled run; the line says so). Options:
 * {@code -Dbench.tokens=200 -Dbench.prompt=100 -Dbench.layers=24 -Dbench.speech-pushes=3 -Dbench.device=cpu
 * -Domnicall.worker.torch-threads=auto}. Ends with one {@code key=value} line.
 */
public final class Omni2Benchmark {
    private static final int R = 3;
    private static final int W = 10;
    private static final int WINDOW = 6; // tokens averaged around each measured token (two writes)

    private Omni2Benchmark() {
    }

    /** config.json of LLaMA-Omni2-0.5B (CHECKPOINT-OMNI2.md), with {@code layers} layers in both LMs. */
    static Omni2Config config05b(int layers) {
        JsonObject c = TinyOmni2Writer.configJson(TinyOmni2Writer.Options.defaults());
        qwen05b(c, layers, 151936, 151645);
        c.addProperty("speech_encoder_hidden_size", 1280);
        c.addProperty("speech_encoder_num_heads", 20);
        c.addProperty("speech_encoder_num_layers", 32);
        c.addProperty("speech_projector_hidden_size", 2048);
        c.addProperty("unit_vocab_size", 6561);
        qwen05b(c.getAsJsonObject("speech_generator"), layers, 158227, 151643);
        return Omni2Config.parse(c.toString());
    }

    /** Qwen2.5-0.5B's shape, which the LLM and the TTS LM share; they differ in vocabulary and end token. */
    private static void qwen05b(JsonObject c, int layers, int vocab, int eos) {
        c.addProperty("hidden_size", 896);
        c.addProperty("intermediate_size", 4864);
        c.addProperty("num_attention_heads", 14);
        c.addProperty("num_key_value_heads", 2);
        c.addProperty("num_hidden_layers", layers);
        c.addProperty("vocab_size", vocab);
        c.addProperty("bos_token_id", 151643);
        c.addProperty("eos_token_id", eos);
    }

    /** Every tensor the LLM and the speech generator read, by name and shape. */
    static Map<String, long[]> shapes(Omni2Config c) {
        Map<String, long[]> s = new LinkedHashMap<>();
        transformer(s, c.llmSpec());
        int h = c.hiddenSize();
        int d = c.speechGenerator().hiddenSize();
        String p = GatedFusion.PREFIX;
        s.put(p + "input_proj.0.weight", new long[] {2L * h, h});
        s.put(p + "input_proj.0.bias", new long[] {2L * h});
        s.put(p + "input_proj.2.weight", new long[] {d, 2L * h});
        s.put(p + "input_proj.2.bias", new long[] {d});
        s.put(p + "gate.0.weight", new long[] {d, 2L * d});
        s.put(p + "gate.0.bias", new long[] {d});
        transformer(s, c.speechGenerator().spec());
        return s;
    }

    private static void transformer(Map<String, long[]> s, LlamaModel.Spec spec) {
        String p = spec.prefix();
        long d = spec.hiddenSize();
        long kv = (long) spec.numKeyValueHeads() * (d / spec.numAttentionHeads());
        s.put(p + "model.embed_tokens.weight", new long[] {spec.vocabSize(), d});
        for (int i = 0; i < spec.numHiddenLayers(); i++) {
            String l = p + "model.layers." + i + ".";
            s.put(l + "self_attn.q_proj.weight", new long[] {d, d});
            s.put(l + "self_attn.q_proj.bias", new long[] {d});
            s.put(l + "self_attn.k_proj.weight", new long[] {kv, d});
            s.put(l + "self_attn.k_proj.bias", new long[] {kv});
            s.put(l + "self_attn.v_proj.weight", new long[] {kv, d});
            s.put(l + "self_attn.v_proj.bias", new long[] {kv});
            s.put(l + "self_attn.o_proj.weight", new long[] {d, d});
            s.put(l + "mlp.gate_proj.weight", new long[] {spec.intermediateSize(), d});
            s.put(l + "mlp.up_proj.weight", new long[] {spec.intermediateSize(), d});
            s.put(l + "mlp.down_proj.weight", new long[] {d, spec.intermediateSize()});
            s.put(l + "input_layernorm.weight", new long[] {d});
            s.put(l + "post_attention_layernorm.weight", new long[] {d});
        }
        s.put(p + "model.norm.weight", new long[] {d});
        if (!spec.tieWordEmbeddings()) {
            s.put(p + "lm_head.weight", new long[] {spec.vocabSize(), d});
        }
    }

    public static void main(String[] args) {
        int tokens = Integer.getInteger("bench.tokens", 200);
        int promptRows = Integer.getInteger("bench.prompt", 100);
        int layers = Integer.getInteger("bench.layers", 24);
        int pushes = Integer.getInteger("bench.speech-pushes", 3);
        String device = System.getProperty("bench.device", "cpu");
        int early = 20;
        if (tokens < early + WINDOW) {
            throw new IllegalArgumentException("bench.tokens must be at least " + (early + WINDOW));
        }
        String load0 = loadAverage();
        TorchThreads.Started threads = TorchThreads.start(System.getProperty(TorchThreads.KEY, TorchThreads.AUTO),
                !device.equals("cpu"));
        DataType type = device.equals("cpu") ? DataType.FLOAT32 : DataType.FLOAT16;
        try (NDManager m = NDManager.newBaseManager(ai.djl.Device.fromName(device))) {
            long tLoad = System.nanoTime();
            Omni2Config c = config05b(layers);
            Omni2DecoderBenchmark.ShapedRandomSource weights = new Omni2DecoderBenchmark.ShapedRandomSource(shapes(c), 3);
            LlamaModel llm = LlamaModel.load(weights, m, type, c.llmSpec());
            TtsLanguageModel tts = TtsLanguageModel.load(weights, m, type, c.speechGenerator(), c.hiddenSize(),
                    c.ttsVocabulary());
            Map<String, long[]> flowShapes = new LinkedHashMap<>(FlowEncoderConfig.cosyVoice2().tensorShapes());
            flowShapes.put("spk_embed_affine_layer.weight", new long[] {80, 192});
            flowShapes.put("spk_embed_affine_layer.bias", new long[] {80});
            flowShapes.putAll(FlowEstimator.Config.cosyVoice2().tensorShapes());
            Omni2DecoderBenchmark.ShapedRandomSource flowSource = new Omni2DecoderBenchmark.ShapedRandomSource(flowShapes, 1);
            FlowMatching flow = new FlowMatching(flowSource, m, new FlowEncoder(flowSource, m,
                    FlowEncoderConfig.cosyVoice2()), new FlowEstimator(flowSource, m, FlowEstimator.Config.cosyVoice2()),
                    192, 10, 0.7, FlowMatching.DEFAULT_NOISE_SEED);
            HiftVocoder hift = new HiftVocoder(new Omni2DecoderBenchmark.ShapedRandomSource(
                    HiftConfig.cosyVoice2().tensorShapes(), 2), m, HiftConfig.cosyVoice2(), SourcePins.defaults());
            SplittableRandom r = new SplittableRandom(5);
            float[] xvector = new float[192];
            for (int i = 0; i < xvector.length; i++) {
                xvector[i] = (float) r.nextGaussian();
            }
            System.out.printf("loaded in %.1f s: LLM and TTS LM %d layers each, %s%n", (System.nanoTime() - tLoad) / 1e9,
                    layers, type);

            long[] llmStep = new long[tokens];
            long[] ttsStep = new long[tokens];
            long speechNanos = 0;
            long samples = 0;
            long firstAudioNanos = 0;
            long prefillNanos;
            int unitCount = 0;
            int pushed = 0;
            long t0 = System.nanoTime();
            try (KvCache cache = llm.newCache(promptRows + tokens + 1L);
                    TtsStream ttsStream = tts.newStream(new TtsSchedule(R, W, 1024), TtsSampling.greedy());
                    NDManager speechManager = m.newSubManager()) {
                SpeechStream speech = new SpeechStream(flow, hift, speechManager, xvector,
                        SpeechStream.DEFAULT_CONTEXT_TOKENS);
                NDArray state;
                NDArray logits;
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    // the prompt: random rows in the LLM's scale, one key each
                    NDArray rows = m.randomNormal(0, 0.02f, new Shape(promptRows, c.hiddenSize()), type);
                    long[] keys = new long[promptRows];
                    for (int i = 0; i < promptRows; i++) {
                        keys[i] = -1 - i;
                    }
                    LlamaModel.Output out = llm.forward(rows, cache, keys);
                    state = out.hidden().get(promptRows - 1);
                    logits = out.lastLogits();
                    logits.toFloatArray(); // waits for the device
                    NDScope.unregister(state, logits);
                }
                prefillNanos = System.nanoTime() - t0;
                for (int i = 0; i < tokens; i++) {
                    try (NDScope scope = new NDScope()) {
                        scope.suppressNotUsedWarning();
                        long a = System.nanoTime();
                        long token = logits.argMax().toType(DataType.INT64, false).getLong();
                        // never the last token for the TTS LM: its final write (to the end token, capped at 1024
                        // units; a random TTS LM never writes it) is not what is measured
                        boolean last = i == tokens - 1;
                        TtsStream.Write write = ttsStream.accept(state, token, false);
                        long b = System.nanoTime();
                        ttsStep[i] = b - a;
                        if ((i + 1) % 20 == 0) {
                            System.out.printf("token %d at %.1f s%n", i + 1, (System.nanoTime() - t0) / 1e9);
                        }
                        if (write.units().length > 0 && pushed < pushes) {
                            pushed++;
                            long[] batch = new long[write.units().length];
                            for (int u = 0; u < batch.length; u++) {
                                batch[u] = write.units()[u];
                            }
                            unitCount += batch.length;
                            float[] audio = speech.push(batch);
                            speechNanos += System.nanoTime() - b;
                            samples += audio.length;
                            if (audio.length > 0 && firstAudioNanos == 0) {
                                firstAudioNanos = System.nanoTime() - t0;
                            }
                        }
                        if (last) {
                            break;
                        }
                        long d = System.nanoTime();
                        LlamaModel.Output out = llm.forward(llm.embed(new long[] {token}), cache, new long[] {token});
                        NDArray nextState = out.hidden().get(0);
                        NDArray nextLogits = out.lastLogits();
                        nextLogits.toFloatArray(); // waits for the device
                        llmStep[i] = System.nanoTime() - d;
                        NDScope.unregister(nextState, nextLogits);
                        state.close();
                        logits.close();
                        state = nextState;
                        logits = nextLogits;
                    }
                }
                state.close();
                logits.close();
            }
            double audioSeconds = samples / (double) hift.sampleRate();
            double llmEarly = mean(llmStep, early, WINDOW);
            double llmLate = mean(llmStep, tokens - WINDOW - 1, WINDOW);
            double ttsEarly = mean(ttsStep, early, WINDOW);
            double ttsLate = mean(ttsStep, tokens - WINDOW - 1, WINDOW);
            double rtf = speechNanos / 1e9 / audioSeconds;
            long peakMb = peakRssKb() / 1024;
            String load1 = loadAverage();
            System.out.printf("%n| LLaMA-Omni2 0.5B shapes%s, random weights, %s, %d intra-op thread(s), prompt %d rows"
                    + " | figure |%n|---|---|%n", layers == 24 ? "" : " (" + layers + " of 24 layers)", device,
                    threads.intraOp(), promptRows);
            System.out.printf("| prefill (%d rows) | %.0f ms |%n", promptRows, prefillNanos / 1e6);
            System.out.printf("| first audio: prefill → first 24 kHz samples | %.0f ms |%n", firstAudioNanos / 1e6);
            System.out.printf("| text token %d: LLM step + TTS share | %.1f + %.1f ms |%n", early, llmEarly, ttsEarly);
            System.out.printf("| text token %d: LLM step + TTS share | %.1f + %.1f ms |%n", tokens - WINDOW / 2, llmLate,
                    ttsLate);
            System.out.printf("| flow + HiFT over the first %d units (%.2f s of audio) | %.2f s, RTF %.2f |%n", unitCount,
                    audioSeconds, speechNanos / 1e9, rtf);
            System.out.printf("| peak resident memory | %d MB |%n", peakMb);
            System.out.printf("load_start=%s device=%s threads=%d layers=%d prompt=%d tokens=%d prefill_ms=%.0f"
                    + " first_audio_ms=%.0f llm_ms_t%d=%.1f tts_ms_t%d=%.1f llm_ms_t%d=%.1f tts_ms_t%d=%.1f vocoded_units=%d"
                    + " audio_s=%.2f flow_hift_rtf=%.3f peak_rss_mb=%d load_end=%s%n", load0, device,
                    threads.intraOp(), layers, promptRows, tokens, prefillNanos / 1e6, firstAudioNanos / 1e6, early,
                    llmEarly, early, ttsEarly, tokens - WINDOW / 2, llmLate, tokens - WINDOW / 2, ttsLate, unitCount,
                    audioSeconds, rtf, peakMb, load1);
        }
    }

    /** Mean of {@code n} nanosecond figures from {@code from}, in ms. */
    private static double mean(long[] nanos, int from, int n) {
        long sum = 0;
        for (int i = from; i < from + n; i++) {
            sum += nanos[i];
        }
        return sum / 1e6 / n;
    }

    /** VmHWM of /proc/self/status (kB), 0 where there is none. */
    private static long peakRssKb() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (java.io.IOException e) {
            return 0;
        }
        return 0;
    }
}
