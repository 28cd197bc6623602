package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.Locale;

/**
 * Whisper transcription (greedy or beam search) of the encoder output a turn already computed (no second encoder
 * pass).
 * Prompt {@code <|startoftranscript|><|xx|><|transcribe|><|notimestamps|>}; the language comes from the
 * caller or is detected as whisper's {@code detect_language} does it (the language token with the highest
 * logit after start-of-transcript). The detection pass is the first position of the prompt itself, so it
 * costs nothing extra and the cache continues from it.
 *
 * <p>Suppression: whisper's {@code suppress_tokens="-1"} set ({@link WhisperTokenizer#nonSpeechTokens}) and
 * every special token except end-of-text (whisper itself suppresses only the task/start/no-speech tokens
 * and, without timestamps, leaves the language tokens and timestamps to its decode step to drop; here none
 * of them can be emitted at all); at the first sampled position also the blank ({@code encode(" ")}) and
 * end-of-text ({@code suppress_blank}). Tokens are capped by the caller's limit and by n_text_ctx.
 *
 * <p>One Transcriber serves any number of utterances; each {@link Transcription} is driven from one thread.
 */
public final class Transcriber {
    /** Prompt length with the language token: sot, language, transcribe, notimestamps. */
    public static final int PROMPT_TOKENS = 4;

    private final WhisperDecoder decoder;
    private final WhisperTokenizer tokenizer;
    private final NDManager manager;
    private final int[] suppressed; // sorted ids never emitted
    private final int[] suppressedAtFirst; // blank + end-of-text, first sampled position only
    private final NDArray suppressMask; // [nVocab] 0 or -inf
    private final NDArray firstMask; // [nVocab] 0 or -inf, suppressMask plus suppressedAtFirst
    private final NDArray languageMask; // [nVocab] 0 on language tokens, -inf elsewhere

    Transcriber(WhisperDecoder decoder, WhisperTokenizer tokenizer, NDManager parent) {
        if (tokenizer.nVocab() != decoder.dims().nVocab()) {
            throw new IllegalArgumentException("vocabulary n_vocab " + tokenizer.nVocab() + " differs from the decoder's "
                    + decoder.dims().nVocab());
        }
        this.decoder = decoder;
        this.tokenizer = tokenizer;
        this.manager = parent.newSubManager();
        int n = tokenizer.nVocab();
        boolean[] never = new boolean[n];
        for (int t : tokenizer.nonSpeechTokens()) {
            never[t] = true;
        }
        for (int t = tokenizer.endOfText() + 1; t < n; t++) {
            never[t] = true;
        }
        this.suppressed = indices(never);
        boolean[] first = never.clone();
        long[] blank = tokenizer.encode(" ");
        for (long t : blank) {
            first[(int) t] = true;
        }
        first[tokenizer.endOfText()] = true;
        this.suppressedAtFirst = new int[blank.length + 1];
        for (int i = 0; i < blank.length; i++) {
            suppressedAtFirst[i] = (int) blank[i];
        }
        suppressedAtFirst[blank.length] = tokenizer.endOfText();
        boolean[] notLanguage = new boolean[n];
        Arrays.fill(notLanguage, true);
        for (int i = 0; i < tokenizer.languages().size(); i++) {
            notLanguage[tokenizer.firstLanguageToken() + i] = false;
        }
        this.suppressMask = mask(never);
        this.firstMask = mask(first);
        this.languageMask = mask(notLanguage);
    }

    /**
     * A transcriber from any weight source (the benchmark uses random weights of large-v3's shape): the decoder
     * tensors under {@code model.speech_decoder.} with openai's names, on the manager's device as type.
     */
    public static Transcriber create(dev.omnicall.model.io.TensorSource weights, WhisperDecoder.Dims dims,
            WhisperTokenizer tokenizer, NDManager manager, DataType type) {
        return new Transcriber(new WhisperDecoder(weights, manager, type, dims), tokenizer, manager);
    }

    private NDArray mask(boolean[] minusInfinity) {
        float[] m = new float[minusInfinity.length];
        for (int i = 0; i < m.length; i++) {
            m[i] = minusInfinity[i] ? Float.NEGATIVE_INFINITY : 0f;
        }
        NDArray a = manager.create(m, new Shape(m.length));
        NDScope.unregister(a);
        return a;
    }

    private static int[] indices(boolean[] set) {
        int count = 0;
        for (boolean b : set) {
            count += b ? 1 : 0;
        }
        int[] out = new int[count];
        int j = 0;
        for (int i = 0; i < set.length; i++) {
            if (set[i]) {
                out[j++] = i;
            }
        }
        return out;
    }

    /**
     * Starts transcribing one utterance: computes the cross-attention keys/values once, detects the language
     * if asked, and runs the prompt; {@link Transcription#step()} then emits one token per call.
     *
     * @param encoderOut [frames, n_audio_state]: the WhisperEncoder output the turn already computed
     * @param languageOrNull a whisper language code ("en", "de", ...); null, blank or "auto": detect
     * @param maxTokens text tokens at most (also bounded by n_text_ctx minus the 4 prompt tokens)
     */
    public Transcription start(NDArray encoderOut, String languageOrNull, int maxTokens) {
        return start(encoderOut, languageOrNull, maxTokens, 1);
    }

    /**
     * As {@link #start(NDArray, String, int)}, searching {@code beams} hypotheses ({@link Transcription}; 1 =
     * greedy). Each step runs one decoder forward for all live hypotheses (rows of one batch); one beam takes the
     * masked argmax without scoring.
     */
    public Transcription start(NDArray encoderOut, String languageOrNull, int maxTokens, int beams) {
        return start(encoderOut, languageOrNull, maxTokens, beams, LengthPenalty.PER_TOKEN);
    }

    /**
     * As {@link #start(NDArray, String, int, int)}, the finished hypotheses ranked by {@code lengthPenalty}
     * (whisper's {@code length_penalty}; {@link LengthPenalty#PER_TOKEN} is whisper's default).
     */
    public Transcription start(NDArray encoderOut, String languageOrNull, int maxTokens, int beams,
            LengthPenalty lengthPenalty) {
        return start(encoderOut, languageOrNull, maxTokens, beams,
                beams == 1 ? BeamDecoding.Kind.GREEDY : BeamDecoding.Kind.BATCHED, lengthPenalty);
    }

    /**
     * As {@link #start(NDArray, String, int, int)} with the decoding chosen: the tests and the benchmark compare
     * the batched and greedy paths with the per-hypothesis reference.
     */
    Transcription start(NDArray encoderOut, String languageOrNull, int maxTokens, int beams, BeamDecoding.Kind kind) {
        return start(encoderOut, languageOrNull, maxTokens, beams, kind, LengthPenalty.PER_TOKEN);
    }

    Transcription start(NDArray encoderOut, String languageOrNull, int maxTokens, int beams, BeamDecoding.Kind kind,
            LengthPenalty lengthPenalty) {
        if (lengthPenalty == null) {
            throw new IllegalArgumentException("lengthPenalty is null (LengthPenalty.PER_TOKEN is whisper's default)");
        }
        if (beams < 1) {
            throw new IllegalArgumentException("beams must be at least 1, got " + beams);
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("maxTokens must be at least 1, got " + maxTokens);
        }
        String asked = languageOrNull == null ? "auto" : languageOrNull.trim().toLowerCase(Locale.ROOT);
        boolean detect = asked.isEmpty() || asked.equals("auto");
        int languageToken = detect ? -1 : tokenizer.languageToken(asked);
        int cap = Math.min(maxTokens, maxTokens());
        WhisperDecoder.State state = decoder.newState(encoderOut);
        try {
            NDArray logits;
            if (detect) {
                // language: the highest-logit language token after start-of-transcript
                try (NDArray atSot = decoder.decode(state, new long[] {tokenizer.startOfTranscript()}, false)) {
                    languageToken = (int) argmax(atSot, languageMask);
                }
                logits = decoder.decode(state, new long[] {languageToken, tokenizer.transcribe(),
                        tokenizer.noTimestamps()}, false);
            } else {
                logits = decoder.decode(state, new long[] {tokenizer.startOfTranscript(), languageToken,
                        tokenizer.transcribe(), tokenizer.noTimestamps()}, false);
            }
            String language = tokenizer.languageOf(languageToken).orElseThrow();
            NDScope.unregister(logits);
            return new Transcription(this, BeamDecoding.of(kind, this, state, logits), language, cap, beams,
                    lengthPenalty);
        } catch (RuntimeException e) {
            state.close();
            throw e;
        }
    }

    /** Token id chosen from float32 logits [1, nVocab] or [nVocab]: argmax after suppression. */
    long pick(NDArray logits, boolean firstSampled) {
        return argmax(logits, firstSampled ? firstMask : suppressMask);
    }

    /** The best next tokens of one hypothesis: ids and their log-probabilities, best first. */
    record Top(long[] ids, float[] logProbs) {
    }

    /**
     * The {@code k} most likely next tokens under the suppression rules, from float32 logits [1, nVocab] or
     * [nVocab]: the log-softmax over the tokens that may be emitted.
     */
    Top top(NDArray logits, boolean firstSampled, int k) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray mask = (firstSampled ? firstMask : suppressMask).toDevice(logits.getDevice(), false);
            NDArray logProbs = logits.reshape(-1).add(mask).logSoftmax(0);
            int n = (int) Math.min(k, logProbs.size());
            ai.djl.ndarray.NDList best = logProbs.topK(n, 0, true, true);
            return new Top(best.get(1).toType(DataType.INT64, false).toLongArray(),
                    best.get(0).toType(DataType.FLOAT32, false).toFloatArray());
        }
    }

    /**
     * {@link #top} of every row of float32 logits [rows, nVocab] in one pass on the device: row i's best next
     * tokens at index i.
     */
    Top[] topOfRows(NDArray logits, boolean firstSampled, int k) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray mask = (firstSampled ? firstMask : suppressMask).toDevice(logits.getDevice(), false);
            NDArray logProbs = logits.add(mask).logSoftmax(1);
            int rows = (int) logProbs.getShape().get(0);
            int n = (int) Math.min(k, logProbs.getShape().get(1));
            ai.djl.ndarray.NDList best = logProbs.topK(n, 1, true, true);
            long[] ids = best.get(1).toType(DataType.INT64, false).toLongArray();
            float[] values = best.get(0).toType(DataType.FLOAT32, false).toFloatArray();
            Top[] tops = new Top[rows];
            for (int i = 0; i < rows; i++) {
                tops[i] = new Top(Arrays.copyOfRange(ids, i * n, (i + 1) * n),
                        Arrays.copyOfRange(values, i * n, (i + 1) * n));
            }
            return tops;
        }
    }

    private static long argmax(NDArray logits, NDArray mask) {
        // in a scope of its own: every view and temporary is freed here, not when the model closes
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            return logits.reshape(-1).add(mask.toDevice(logits.getDevice(), false)).argMax()
                    .toType(DataType.INT64, false).getLong();
        }
    }

    /** The most text tokens one transcription can have: n_text_ctx minus the prompt. */
    public int maxTokens() {
        return decoder.dims().nTextCtx() - PROMPT_TOKENS;
    }

    public WhisperTokenizer tokenizer() {
        return tokenizer;
    }

    public WhisperDecoder decoder() {
        return decoder;
    }

    /** Ids that are never emitted (sorted): non-speech symbols and every special token but end-of-text. */
    public int[] suppressedTokens() {
        return suppressed.clone();
    }

    /** Ids also suppressed at the first sampled position: the blank and end-of-text. */
    public int[] suppressedAtFirstToken() {
        return suppressedAtFirst.clone();
    }

    /**
     * Frees the masks (the model's manager frees them too). Public for the family's model that built it
     * ({@link TranscriberLoader#build}), which closes it with itself; nobody else should.
     */
    public void close() {
        manager.close();
    }
}
