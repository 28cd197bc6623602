package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.Ops;
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
    private final long[] candidates; // the ids a TTS step may write, ascending: the units and end
    private final NDArray candidateHead; // [candidates, D]: the LM head's rows of those ids

    private TtsLanguageModel(LlamaModel lm, GatedFusion fusion, TtsVocabulary vocabulary,
            SpeechGeneratorConfig config, int llmHidden) {
        this.llmHidden = llmHidden;
        this.candidates = candidateIds(vocabulary);
        this.candidateHead = lm.lmHeadRows(candidates);
        NDScope.unregister(candidateHead);
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
        return Ops.scoped(() -> fusion.fuse(hidden, lm.embed(tokens)));
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

    /** The ids a TTS step may write, ascending: the unit ids and the end id. */
    static long[] candidateIds(TtsVocabulary v) {
        long[] ids = new long[v.unitCount() + 1];
        for (int u = 0; u < v.unitCount(); u++) {
            ids[u] = v.unitBase() + u;
        }
        ids[v.unitCount()] = v.endId();
        java.util.Arrays.sort(ids);
        return ids;
    }

    long[] candidates() {
        return candidates.clone();
    }

    /**
     * The logits [candidates] (float32) of a final-normed state [D]: only the LM head's rows that can be written
     * (6562 of 158227 at the published sizes), equal to those entries of the full head's logits (tested against
     * the full head in TtsLanguageModelTest).
     */
    NDArray candidateLogits(NDArray state) {
        return Ops.scoped(() -> Ops.linear(state, candidateHead, null).toType(DataType.FLOAT32, false));
    }

    /**
     * The next token from the candidates' logits: greedy (the first maximum, so a tie goes to the lower id, as a
     * masked argmax over the whole vocabulary would), or sampled from softmax(logits / T) with {@code random}.
     */
    long pick(NDArray candidateLogits, TtsSampling sampling, SplittableRandom random) {
        if (sampling.isGreedy()) {
            return candidates[(int) candidateLogits.argMax().toType(DataType.INT64, false).getLong()];
        }
        float[] logits = candidateLogits.toFloatArray();
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) {
            max = Math.max(max, x);
        }
        double[] weights = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            weights[i] = Math.exp((logits[i] - max) / sampling.temperature());
            sum += weights[i];
        }
        // inverse CDF in id order
        double r = random.nextDouble() * sum;
        for (int i = 0; i < logits.length; i++) {
            r -= weights[i];
            if (r < 0) {
                return candidates[i];
            }
        }
        return candidates[logits.length - 1];
    }
}
