package dev.omnicall.model;

import dev.omnicall.model.omni.OmniModel;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The caller transcriber on the tiny checkpoint: incremental decoding against the decoder's full recompute,
 * greedy choice under whisper's suppression rules, the token cap, language detection.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TranscriberTest {
    private static final int LONG_RUN = 40;

    private final OmniModel model = TinyModels.model();
    private Transcriber transcriber;
    private WhisperTokenizer tokenizer;
    private NDManager manager;
    private NDArray encoderOut;

    @BeforeAll
    void encode() {
        transcriber = model.transcriber().orElseThrow();
        tokenizer = transcriber.tokenizer();
        manager = model.manager().newSubManager();
        encoderOut = model.encodeAudio(TinyModels.testAudio(1.2, 11));
        encoderOut.attach(manager);
    }

    @AfterAll
    void free() {
        manager.close();
    }

    /** Runs a transcription to the end (or the cap) and returns it closed. */
    private Transcription run(String language, int maxTokens) {
        Transcription t = transcriber.start(encoderOut, language, maxTokens);
        int steps = 0;
        while (!t.step()) {
            steps++;
            assertThat(steps).isLessThanOrEqualTo(maxTokens);
        }
        t.close();
        return t;
    }

    private long[] prompt(String language) {
        return new long[] {tokenizer.startOfTranscript(), tokenizer.languageToken(language), tokenizer.transcribe(),
                tokenizer.noTimestamps()};
    }

    /** The reference greedy loop: full recompute of every position, suppression applied in Java on float[]. */
    private List<Long> referenceGreedy(String language, int maxTokens) {
        List<Long> sequence = new ArrayList<>();
        for (long t : prompt(language)) {
            sequence.add(t);
        }
        List<Long> out = new ArrayList<>();
        boolean[] never = set(transcriber.suppressedTokens());
        boolean[] first = set(transcriber.suppressedAtFirstToken());
        while (out.size() < maxTokens) {
            float[] logits = lastRow(sequence);
            int best = -1;
            for (int i = 0; i < logits.length; i++) {
                boolean blocked = never[i] || (out.isEmpty() && first[i]);
                if (!blocked && (best < 0 || logits[i] > logits[best])) {
                    best = i;
                }
            }
            if (best == tokenizer.endOfText()) {
                break;
            }
            out.add((long) best);
            sequence.add((long) best);
        }
        return out;
    }

    private float[] lastRow(List<Long> sequence) {
        long[] ids = sequence.stream().mapToLong(Long::longValue).toArray();
        try (NDArray all = transcriber.decoder().forward(ids, encoderOut)) {
            return all.get(new NDIndex("{}", ids.length - 1)).toFloatArray();
        }
    }

    private boolean[] set(int[] ids) {
        boolean[] s = new boolean[tokenizer.nVocab()];
        for (int i : ids) {
            s[i] = true;
        }
        return s;
    }

    @Test
    void shouldGiveTheSameLogitsIncrementallyAsTheFullRecompute() {
        // Given the prompt and a few further tokens
        long[] tokens = new long[] {tokenizer.startOfTranscript(), tokenizer.languageToken("en"), tokenizer.transcribe(),
                tokenizer.noTimestamps(), 300, 17, 256, 99, 5, 421};
        // When decoded one position at a time against the caches, and all at once
        WhisperDecoder decoder = transcriber.decoder();
        try (WhisperDecoder.State state = decoder.newState(encoderOut);
                NDArray full = decoder.forward(tokens, encoderOut)) {
            NDArray prefix = decoder.decode(state, Arrays.copyOf(tokens, 3), true);
            // Then every position's logits agree (the first three fed as one chunk, then one by one)
            assertThat(maxAbsDiff(prefix, full.get(new NDIndex("0:3")))).isLessThan(1e-4f);
            for (int i = 3; i < tokens.length; i++) {
                try (NDArray one = decoder.decode(state, new long[] {tokens[i]}, false)) {
                    assertThat(maxAbsDiff(one, full.get(new NDIndex("{}:{}", i, i + 1)))).as("position %d", i)
                            .isLessThan(1e-4f);
                }
            }
            assertThat(state.length()).isEqualTo(tokens.length);
        }
    }

    @Test
    void shouldEmitTheSameTokensAsGreedyDecodingWithFullRecompute() {
        // When the transcriber runs with the language given, and the reference loop runs on full recomputes
        Transcription t = run("en", LONG_RUN);
        List<Long> reference = referenceGreedy("en", LONG_RUN);
        // Then the same tokens come out, and the text is their decoding
        assertThat(reference).hasSizeGreaterThan(2);
        assertThat(t.tokenIds()).containsExactly(reference.stream().mapToLong(Long::longValue).toArray());
        assertThat(t.tokenCount()).isEqualTo(reference.size());
        assertThat(t.text()).isEqualTo(tokenizer.decode(t.tokenIds()).strip());
        assertThat(t.language()).isEqualTo("en");
        assertThat(t.isDone()).isTrue();
    }

    @Test
    void shouldNeverEmitASpecialTokenEvenWhenItHasTheHighestLogit() {
        // Given the tiny decoder, whose special-token embeddings are drawn large: unsuppressed, specials win
        Transcription t = run("en", LONG_RUN);
        List<Long> sequence = new ArrayList<>();
        for (long p : prompt("en")) {
            sequence.add(p);
        }
        int specialWins = 0;
        for (long token : t.tokenIds()) {
            float[] logits = lastRow(sequence);
            int raw = argmax(logits);
            if (raw > tokenizer.endOfText()) {
                specialWins++;
            }
            sequence.add(token);
        }
        // Then such positions exist, and yet only text tokens were emitted
        assertThat(specialWins).isGreaterThan(0);
        assertThat(Arrays.stream(t.tokenIds()).boxed().toList()).allMatch(id -> id < tokenizer.endOfText());
        assertThat(t.tokenIds()).doesNotContain(Arrays.stream(tokenizer.nonSpeechTokens()).asLongStream().toArray());
    }

    @Test
    void shouldPickTheHighestUnsuppressedLogit() {
        // Given logits whose highest entries are a timestamp, <|nospeech|>, a non-speech symbol and end-of-text
        float[] logits = new float[tokenizer.nVocab()];
        logits[tokenizer.timestampBegin() + 3] = 50;
        logits[tokenizer.noSpeech()] = 40;
        logits[tokenizer.nonSpeechTokens()[0]] = 30;
        logits[tokenizer.endOfText()] = 20;
        logits[(int) tokenizer.encode(" ")[0]] = 15;
        logits[65] = 10;
        try (NDArray l = manager.create(logits)) {
            // Then end-of-text wins after the first position, and at the first position blank and end-of-text are out too
            assertThat(transcriber.pick(l, false)).isEqualTo(tokenizer.endOfText());
            assertThat(transcriber.pick(l, true)).isEqualTo(65);
        }
    }

    @Test
    void shouldStopAtTheCapAndSayTruncated() {
        // Given a transcript of more than three tokens
        Transcription full = run("en", LONG_RUN);
        assertThat(full.tokenCount()).isGreaterThan(3);
        // When capped at three
        Transcription capped = run("en", 3);
        // Then it stops there, truncated, with the same first tokens
        assertThat(capped.tokenCount()).isEqualTo(3);
        assertThat(capped.truncated()).isTrue();
        assertThat(capped.tokenIds()).containsExactly(Arrays.copyOf(full.tokenIds(), 3));
        assertThat(full.truncated()).isEqualTo(full.tokenCount() == LONG_RUN);
        // And a cap above n_text_ctx is bounded by it
        assertThat(transcriber.maxTokens()).isEqualTo(TinySharedBlocks.TEXT_CTX - 4);
    }

    @Test
    void shouldDetectTheLanguageWithTheHighestLogitAfterStartOfTranscript() {
        // Given the logits after <|startoftranscript|> alone
        float[] atSot = lastRow(List.of((long) tokenizer.startOfTranscript()));
        int best = tokenizer.firstLanguageToken();
        for (int i = 0; i < tokenizer.languages().size(); i++) {
            if (atSot[tokenizer.firstLanguageToken() + i] > atSot[best]) {
                best = tokenizer.firstLanguageToken() + i;
            }
        }
        String expected = tokenizer.languageOf(best).orElseThrow();
        // When transcribing with language auto (and null)
        Transcription auto = run("auto", 5);
        Transcription none = run(null, 5);
        // Then that language is used, and the tokens are those of the same language given explicitly
        assertThat(auto.language()).isEqualTo(expected);
        assertThat(none.language()).isEqualTo(expected);
        assertThat(auto.tokenIds()).containsExactly(run(expected, 5).tokenIds());
    }

    @Test
    void shouldRefuseAnUnknownLanguageAndANonPositiveCap() {
        assertThatThrownBy(() -> transcriber.start(encoderOut, "xx", 5)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'xx'").hasMessageContaining("en, zh");
        assertThatThrownBy(() -> transcriber.start(encoderOut, "en", 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("maxTokens");
    }

    @Test
    void shouldBeANoOpOnceDoneAndCloseTwice() {
        Transcription t = transcriber.start(encoderOut, "en", 2);
        assertThat(t.step()).isFalse();
        assertThat(t.step()).isTrue();
        String text = t.text();
        assertThat(t.step()).isTrue();
        assertThat(t.tokenCount()).isEqualTo(2);
        assertThat(t.text()).isEqualTo(text);
        t.close();
        t.close();
        // closing early ends it
        Transcription early = transcriber.start(encoderOut, "en", 10);
        early.close();
        assertThat(early.isDone()).isTrue();
        assertThat(early.step()).isTrue();
        assertThat(early.tokenCount()).isZero();
    }

    @Test
    void shouldComputeCloseLogitsInFloat16AsOnTheGpu() {
        // Given the tiny checkpoint loaded as float16 (the GPU default), fed the same float32 encoder output
        long[] tokens = new long[] {tokenizer.startOfTranscript(), tokenizer.languageToken("en"), tokenizer.transcribe(),
                tokenizer.noTimestamps(), 300, 17, 256};
        try (OmniModel half = OmniModel.load(TinyModels.checkpointDir(),
                new ModelOptions("cpu", "float16", 0, null, null));
                NDArray full = transcriber.decoder().forward(tokens, encoderOut);
                NDArray fp16 = half.transcriber().orElseThrow().decoder().forward(tokens, encoderOut)) {
            // Then the float32 logits agree within half precision (relative to their scale), and so do the transcripts' starts
            float scale = full.abs().max().getFloat();
            assertThat(fp16.getDataType()).isEqualTo(DataType.FLOAT32);
            assertThat(maxAbsDiff(fp16, full) / scale).isLessThan(2e-2f);
            Transcription t = half.transcriber().orElseThrow().start(encoderOut, "en", 3);
            while (!t.step()) {
                // to the cap
            }
            t.close();
            assertThat(t.tokenIds()).containsExactly(Arrays.copyOf(run("en", 3).tokenIds(), t.tokenCount()));
        }
    }

    @Test
    void shouldLeaveNoArrayBehindOnTheModelsManager() {
        // Given the number of arrays the model's manager holds (its sub-managers included)
        ai.djl.ndarray.BaseNDManager base = (ai.djl.ndarray.BaseNDManager) model.manager();
        int before = base.getManagedArrays().size();
        // When transcriptions run to the cap, to the end, and are closed early
        run("en", 20);
        run(null, 5);
        transcriber.start(encoderOut, "en", 10).close();
        // Then every array they made (caches, cross K/V, logits, views, masks applied) is gone again
        assertThat(base.getManagedArrays().size()).isEqualTo(before);
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    private static float maxAbsDiff(NDArray a, NDArray b) {
        return a.toType(DataType.FLOAT32, false).sub(b).abs().max().getFloat();
    }
}
