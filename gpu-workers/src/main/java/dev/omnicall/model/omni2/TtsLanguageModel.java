package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.io.TensorSource;
import java.util.SplittableRandom;

/**
 * LLaMA-Omni2's speech generator ({@code speech_generator.*}): the gated fusion of LLM states with their tokens
 * and the TTS language model, a Qwen2 ({@link LlamaModel} with {@link SpeechGeneratorConfig#spec()}) run over
 * input embeddings. The reference re-runs the TTS LM over the whole context at every write; here each reply's
 * {@link TtsStream} keeps its own KV cache across writes, so a write costs only its new rows.
 */
public final class TtsLanguageModel {
    private final LlamaModel lm;
    private final GatedFusion fusion;
    private final TtsVocabulary vocabulary;
    private final SpeechGeneratorConfig config;
    private final int llmHidden;

    private TtsLanguageModel(LlamaModel lm, GatedFusion fusion, TtsVocabulary vocabulary,
            SpeechGeneratorConfig config, int llmHidden) {
        this.llmHidden = llmHidden;
        this.lm = lm;
        this.fusion = fusion;
        this.vocabulary = vocabulary;
        this.config = config;
    }

    /**
     * Loads {@code speech_generator.input_proj.{0,2}}, {@code speech_generator.gate.0} and the Qwen2 under
     * {@code speech_generator.model.} ({@code lm_head.weight} is not read when tied); {@code llmHidden} is the LLM's
     * width H. A missing or misshaped tensor fails with its name and both shapes.
     */
    public static TtsLanguageModel load(TensorSource src, NDManager manager, DataType type,
            SpeechGeneratorConfig config, int llmHidden, TtsVocabulary vocabulary) {
        vocabulary.checkFits(config.vocabSize());
        if (llmHidden <= 0) {
            throw new IllegalArgumentException("the LLM's hidden size must be positive, got " + llmHidden);
        }
        LlamaModel lm = LlamaModel.load(src, manager, type, config.spec());
        GatedFusion fusion = new GatedFusion(src, manager, type, llmHidden, config.hiddenSize());
        return new TtsLanguageModel(lm, fusion, vocabulary, config, llmHidden);
    }

    /** A reply's TTS state: its own cache, the schedule and the token choice. */
    public TtsStream newStream(TtsSchedule schedule, TtsSampling sampling) {
        return new TtsStream(this, schedule, sampling);
    }

    /** The fused rows [n, D] of LLM states [n, H] and the tokens they predicted. */
    public NDArray fuse(NDArray hidden, long[] tokens) {
        return fusion.fuse(hidden, lm.embed(tokens));
    }

    public LlamaModel lm() {
        return lm;
    }

    public TtsVocabulary vocabulary() {
        return vocabulary;
    }

    public SpeechGeneratorConfig config() {
        return config;
    }

    /** H: the width of the LLM states this fusion takes. */
    public int fuseWidth() {
        return llmHidden;
    }

    KvCache newCache() {
        return lm.newCache(64);
    }

    /**
     * The next token from the last row's logits [vocab] (float32), among the unit ids and the end id only:
     * greedy (ties to the lower id), or sampled from softmax(logits / T) with {@code random}.
     */
    long pick(NDArray logits, TtsSampling sampling, SplittableRandom random) {
        TtsVocabulary v = vocabulary;
        NDArray units = logits.get(new NDIndex("{}:{}", v.unitBase(), v.unitBase() + v.unitCount()));
        float end = logits.getFloat(v.endId());
        boolean endFirst = v.endId() < v.unitBase();
        if (sampling.isGreedy()) {
            long best = units.argMax().toType(DataType.INT64, false).getLong();
            float top = units.getFloat(best);
            return end > top || (end == top && endFirst) ? v.endId() : v.unitBase() + best;
        }
        // the candidates in id order: end before or after the units
        float[] u = units.toFloatArray();
        int n = u.length + 1;
        double[] weights = new double[n];
        double max = end;
        for (float x : u) {
            max = Math.max(max, x);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            double logit = candidateLogit(i, u, end, endFirst);
            weights[i] = Math.exp((logit - max) / sampling.temperature());
            sum += weights[i];
        }
        double r = random.nextDouble() * sum;
        int chosen = n - 1;
        for (int i = 0; i < n; i++) {
            r -= weights[i];
            if (r < 0) {
                chosen = i;
                break;
            }
        }
        boolean isEnd = endFirst ? chosen == 0 : chosen == n - 1;
        return isEnd ? v.endId() : v.unitBase() + (endFirst ? chosen - 1 : chosen);
    }

    private static double candidateLogit(int i, float[] units, float end, boolean endFirst) {
        if (endFirst) {
            return i == 0 ? end : units[i - 1];
        }
        return i == units.length ? end : units[i];
    }
}
