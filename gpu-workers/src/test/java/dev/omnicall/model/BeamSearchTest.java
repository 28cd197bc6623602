package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.omnicall.model.omni.OmniModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The caller transcriber's beam search against a slow, obvious reference: the same search rules with every
 * hypothesis recomputed from its whole prompt ({@link WhisperDecoder#forward}, no cache, no fork) and the
 * log-softmax and suppression done in Java on doubles. On the tiny random checkpoint (every beam count ends on the
 * greedy answer there: one token dominates each step) and on the demo model's trained decoder (3 blocks; the test
 * signals are no speech it knows, so its hypotheses are close and wider beams end elsewhere).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BeamSearchTest {
    private static final Path DEMO = Path.of("").toAbsolutePath().getParent().resolve("demo-model/checkpoint");
    private OmniModel demo;
    private Transcriber transcriber;
    private WhisperTokenizer tokenizer;
    private NDManager manager;
    private final List<NDArray> utterances = new ArrayList<>();
    private final List<NDArray> demoUtterances = new ArrayList<>();

    @BeforeAll
    void encode() {
        OmniModel tiny = TinyModels.model();
        manager = tiny.manager().newSubManager();
        for (long seed : new long[] {11, 29}) {
            NDArray out = tiny.encodeAudio(TinyModels.testAudio(seed == 11 ? 1.2 : 0.7, seed));
            out.attach(manager);
            utterances.add(out);
        }
        demo = OmniModel.load(DEMO, ModelOptions.defaults().withPaddedSeconds(0));
        for (long seed : new long[] {11, 29, 47}) {
            NDArray out = demo.encodeAudio(TinyModels.testAudio(0.6 + seed / 40.0, seed));
            out.attach(demo.manager());
            demoUtterances.add(out);
        }
        use(tiny);
    }

    private void use(OmniModel model) {
        transcriber = model.transcriber().orElseThrow();
        tokenizer = transcriber.tokenizer();
    }

    @AfterAll
    void free() {
        manager.close();
        if (demo != null) {
            demo.close();
        }
    }

    private record Hyp(long[] tokens, double logProb) {
        /** whisper's ranking, written out: per text token (length_penalty None) or over ((5 + n) / 6) ^ alpha. */
        double score(Double alpha) {
            return alpha == null ? logProb / Math.max(1, tokens.length)
                    : logProb / Math.pow((5.0 + tokens.length) / 6.0, alpha);
        }
    }

    private record Result(long[] tokens, boolean truncated) {
    }

    /** The reference search: whisper's beam rules, every position recomputed, log-probabilities in double. */
    private Result reference(NDArray encoderOut, int maxTokens, int beams) {
        return reference(encoderOut, maxTokens, beams, null);
    }

    /** As {@link #reference(NDArray, int, int)}, the finished hypotheses ranked by whisper's length_penalty alpha. */
    private Result reference(NDArray encoderOut, int maxTokens, int beams, Double alpha) {
        long[] prompt = {tokenizer.startOfTranscript(), tokenizer.languageToken("en"), tokenizer.transcribe(),
                tokenizer.noTimestamps()};
        boolean[] never = set(transcriber.suppressedTokens());
        boolean[] first = set(transcriber.suppressedAtFirstToken());
        List<Hyp> live = List.of(new Hyp(new long[0], 0));
        List<Hyp> ended = new ArrayList<>();
        for (int step = 0; ; step++) {
            record Cand(int parent, long token, double logProb) {
            }
            List<Cand> cands = new ArrayList<>();
            for (int j = 0; j < live.size(); j++) {
                Hyp h = live.get(j);
                long[] seq = Arrays.copyOf(prompt, prompt.length + h.tokens.length);
                System.arraycopy(h.tokens, 0, seq, prompt.length, h.tokens.length);
                float[] logits;
                try (NDArray all = transcriber.decoder().forward(seq, encoderOut)) {
                    logits = all.get(seq.length - 1).toFloatArray();
                }
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < logits.length; v++) {
                    if (!never[v] && !(step == 0 && first[v])) {
                        max = Math.max(max, logits[v]);
                    }
                }
                double sum = 0;
                for (int v = 0; v < logits.length; v++) {
                    if (!never[v] && !(step == 0 && first[v])) {
                        sum += Math.exp(logits[v] - max);
                    }
                }
                double logZ = max + Math.log(sum);
                Integer[] order = new Integer[logits.length];
                for (int v = 0; v < order.length; v++) {
                    order[v] = v;
                }
                final float[] l = logits;
                final int s = step;
                Arrays.sort(order, Comparator.comparingDouble(v -> (never[v] || (s == 0 && first[v]))
                        ? Double.POSITIVE_INFINITY : -(double) l[v]));
                for (int i = 0; i < beams; i++) {
                    cands.add(new Cand(j, order[i], h.logProb + logits[order[i]] - logZ));
                }
            }
            cands.sort(Comparator.comparingDouble(c -> -c.logProb()));
            List<Hyp> next = new ArrayList<>();
            for (Cand c : cands) {
                if (next.size() == beams) {
                    break;
                }
                long[] parent = live.get(c.parent()).tokens;
                if (c.token() == tokenizer.endOfText()) {
                    ended.add(new Hyp(parent, c.logProb()));
                } else {
                    long[] t = Arrays.copyOf(parent, parent.length + 1);
                    t[parent.length] = c.token();
                    next.add(new Hyp(t, c.logProb()));
                }
            }
            boolean atCap = next.size() > 0 && ended.size() < beams && step + 1 >= maxTokens;
            if (ended.size() >= beams || next.isEmpty() || atCap) {
                Hyp best = null;
                boolean fromLive = false;
                for (Hyp h : ended) {
                    best = best == null || h.score(alpha) > best.score(alpha) ? h : best;
                }
                if (atCap || best == null) {
                    for (Hyp h : next) {
                        if (best == null || h.score(alpha) > best.score(alpha)) {
                            best = h;
                            fromLive = true;
                        }
                    }
                }
                return new Result(best.tokens, atCap && fromLive);
            }
            live = next;
        }
    }

    private Result run(NDArray encoderOut, int maxTokens, int beams) {
        return run(encoderOut, maxTokens, beams, LengthPenalty.PER_TOKEN);
    }

    private Result run(NDArray encoderOut, int maxTokens, int beams, LengthPenalty penalty) {
        try (Transcription t = transcriber.start(encoderOut, "en", maxTokens, beams, penalty)) {
            int steps = 0;
            while (!t.step()) {
                steps++;
                assertThat(steps).isLessThanOrEqualTo(maxTokens);
            }
            assertThat(t.beams()).isEqualTo(beams);
            return new Result(t.tokenIds(), t.truncated());
        }
    }

    private static boolean[] set(int[] ids) {
        boolean[] s = new boolean[200_000];
        for (int id : ids) {
            s[id] = true;
        }
        return s;
    }

    @Test
    void shouldFindTheReferenceSearchsAnswerForOneToFiveBeamsOnTheTinyCheckpoint() {
        // Given two utterances and caps that end some searches at end-of-text and cut others
        use(TinyModels.model());
        sameAsReference(utterances);
    }

    @Test
    void shouldFindTheReferenceSearchsAnswerAndLeaveTheGreedyOneOnTheDemoDecoder() {
        // Given the demo model's trained decoder on three test signals
        use(demo);
        try {
            // When the cached, forking search runs, Then it is the reference's, and not greedy in disguise
            assertThat(sameAsReference(demoUtterances)).as("searches whose answer differs from greedy").isPositive();
        } finally {
            use(TinyModels.model());
        }
    }

    /** Every utterance at caps 3 and 12 with 1, 2, 3 and 5 beams; returns how many differ from one beam. */
    private int sameAsReference(List<NDArray> inputs) {
        int differFromGreedy = 0;
        for (NDArray utterance : inputs) {
            for (int cap : new int[] {3, 12}) {
                long[] greedy = run(utterance, cap, 1).tokens();
                for (int beams : new int[] {1, 2, 3, 5}) {
                    // When the cached, forking search runs
                    Result fast = run(utterance, cap, beams);
                    // Then it ends on the reference's tokens, cut or not as the reference
                    Result slow = reference(utterance, cap, beams);
                    assertThat(fast.tokens()).as("%d beams, cap %d", beams, cap).containsExactly(slow.tokens());
                    assertThat(fast.truncated()).as("%d beams, cap %d: truncated", beams, cap)
                            .isEqualTo(slow.truncated());
                    differFromGreedy += Arrays.equals(fast.tokens(), greedy) ? 0 : 1;
                }
            }
        }
        return differFromGreedy;
    }

    @Test
    void shouldRankTheFinishedHypothesesByWhispersLengthPenaltyAsTheReferenceDoes() {
        // Given the demo model's decoder, whose finished hypotheses differ in length and are close in score
        use(demo);
        try {
            int changed = 0;
            for (NDArray utterance : demoUtterances) {
                for (int cap : new int[] {12, 24}) {
                    long[] perToken = run(utterance, cap, 8).tokens();
                    for (double alpha : new double[] {1, 0, -0.5, -2}) {
                        // When the search ranks its answers by the penalty
                        Result fast = run(utterance, cap, 8, LengthPenalty.alpha(alpha));
                        // Then it is the reference's answer under whisper's formula
                        Result slow = reference(utterance, cap, 8, alpha);
                        assertThat(fast.tokens()).as("alpha %s, cap %d", alpha, cap).containsExactly(slow.tokens());
                        assertThat(fast.truncated()).as("alpha %s, cap %d: truncated", alpha, cap)
                                .isEqualTo(slow.truncated());
                        changed += Arrays.equals(fast.tokens(), perToken) ? 0 : 1;
                    }
                }
            }
            // and the penalty is not ignored: some answers are not the per-token ranking's
            assertThat(changed).as("answers that differ from the per-token ranking's").isPositive();
        } finally {
            use(TinyModels.model());
        }
    }

    @Test
    void shouldStepTheBatchedSearchAsThePerHypothesisReferenceOnTheTinyCheckpoint() {
        // Given two utterances, caps that cut some searches and one past the beams' first cache growth (16)
        use(TinyModels.model());
        for (NDArray utterance : utterances) {
            for (int cap : new int[] {3, 12, 20}) {
                for (int beams : new int[] {2, 3, 5}) {
                    // When both decodings search, Then every step holds the same hypotheses and scores
                    sameStepByStep(utterance, cap, beams, BeamDecoding.Kind.BATCHED, true);
                }
            }
        }
    }

    @Test
    void shouldStepTheBatchedSearchAsThePerHypothesisReferenceOnTheDemoDecoder() {
        // Given the demo model's trained decoder, whose hypotheses stay close (wider beams end elsewhere)
        use(demo);
        try {
            for (NDArray utterance : demoUtterances) {
                for (int cap : new int[] {3, 20}) {
                    for (int beams : new int[] {2, 5}) {
                        // When both decodings search, Then every step holds the same hypotheses and scores
                        sameStepByStep(utterance, cap, beams, BeamDecoding.Kind.BATCHED, true);
                    }
                }
            }
        } finally {
            use(TinyModels.model());
        }
    }

    @Test
    void shouldPickTheGeneralSearchsTokensOnTheGreedyFastPath() {
        // Given one beam on both checkpoints, at caps that cut the search and one that lets it end
        for (OmniModel model : new OmniModel[] {TinyModels.model(), demo}) {
            use(model);
            try {
                for (NDArray utterance : model == demo ? demoUtterances : utterances) {
                    for (int cap : new int[] {3, 20}) {
                        // When the argmax path and the scored per-hypothesis search run, Then the same tokens
                        // at every step (the greedy path does not score, so no scores are compared)
                        sameStepByStep(utterance, cap, 1, BeamDecoding.Kind.GREEDY, false);
                        sameStepByStep(utterance, cap, 1, BeamDecoding.Kind.BATCHED, true);
                    }
                }
            } finally {
                use(TinyModels.model());
            }
        }
    }

    /**
     * Runs kind and the per-hypothesis reference in lockstep: after every step the same live and ended
     * hypotheses (tokens exactly; summed log-probabilities within float tolerance when scored), and in the end
     * the same answer, text and cut.
     */
    private void sameStepByStep(NDArray utterance, int cap, int beams, BeamDecoding.Kind kind, boolean scored) {
        String what = kind + ", " + beams + " beams, cap " + cap;
        try (Transcription fast = transcriber.start(utterance, "en", cap, beams, kind);
                Transcription slow = transcriber.start(utterance, "en", cap, beams,
                        BeamDecoding.Kind.PER_HYPOTHESIS)) {
            for (int step = 0; ; step++) {
                boolean fastDone = fast.step();
                boolean slowDone = slow.step();
                String at = what + ", step " + step;
                assertThat(fastDone).as(at + ": done").isEqualTo(slowDone);
                sameHypotheses(fast.liveHypotheses(), slow.liveHypotheses(), at + ": live", scored);
                sameHypotheses(fast.endedHypotheses(), slow.endedHypotheses(), at + ": ended", scored);
                if (fastDone) {
                    break;
                }
                assertThat(step).isLessThan(cap);
            }
            assertThat(fast.tokenIds()).as(what).containsExactly(slow.tokenIds());
            assertThat(fast.text()).as(what).isEqualTo(slow.text());
            assertThat(fast.truncated()).as(what).isEqualTo(slow.truncated());
        }
    }

    private static void sameHypotheses(List<Transcription.Hypothesis> fast, List<Transcription.Hypothesis> slow,
            String what, boolean scored) {
        assertThat(fast).as(what).hasSameSizeAs(slow);
        for (int i = 0; i < fast.size(); i++) {
            assertThat(fast.get(i).tokens()).as(what + " #" + i).containsExactly(slow.get(i).tokens());
            if (scored) {
                assertThat(fast.get(i).logProb()).as(what + " #" + i + " log-probability")
                        .isCloseTo(slow.get(i).logProb(), org.assertj.core.data.Offset.offset(1e-4));
            }
        }
    }

    @Test
    void shouldDecodeEachBeamRowAsItsOwnForkedStateDoes() {
        // Given the prompt decoded once, as beams and as a state per row (forked where a row is copied)
        NDArray utterance = utterances.get(0);
        WhisperDecoder decoder = transcriber.decoder();
        long[] prompt = {tokenizer.startOfTranscript(), tokenizer.languageToken("en"), tokenizer.transcribe(),
                tokenizer.noTimestamps()};
        List<WhisperDecoder.State> states = new ArrayList<>();
        states.add(decoder.newState(utterance));
        decoder.decode(states.get(0), prompt, false).close();
        try (WhisperDecoder.Beams beams = decoder.beams(states.get(0))) {
            // When the rows grow to three, are reordered with repeats and drops, and run past the first growth
            int[][] reorders = {{0, 0, 0}, {0, 1, 2}, {2, 0, 2}, {1, 1}, {0, 1, 0}};
            for (int step = 0; step < 20; step++) {
                int[] parents = reorders[Math.min(step, reorders.length - 1) % reorders.length];
                if (step >= reorders.length) {
                    parents = step % 2 == 0 ? new int[] {2, 1, 0} : new int[] {0, 1, 2};
                }
                beams.reorder(parents);
                boolean[] taken = new boolean[states.size()];
                List<WhisperDecoder.State> next = new ArrayList<>();
                for (int p : parents) {
                    next.add(taken[p] ? states.get(p).fork() : states.get(p));
                    taken[p] = true;
                }
                for (int j = 0; j < states.size(); j++) {
                    if (!taken[j]) {
                        states.get(j).close();
                    }
                }
                states = next;
                long[] tokens = new long[parents.length];
                for (int i = 0; i < tokens.length; i++) {
                    tokens[i] = 300 + 7L * i + 13L * step;
                }
                // Then every row's logits are those of its own state fed the same token
                try (NDArray rows = beams.decode(tokens)) {
                    assertThat(rows.getShape().get(0)).isEqualTo(parents.length);
                    for (int i = 0; i < tokens.length; i++) {
                        try (NDArray own = decoder.decode(states.get(i), new long[] {tokens[i]}, false)) {
                            assertThat(maxDifference(rows.get(i).toFloatArray(), own.toFloatArray()))
                                    .as("step %d row %d", step, i).isLessThan(1e-4);
                        }
                    }
                }
                assertThat(beams.length()).isEqualTo(states.get(0).length());
            }
            assertThat(beams.length()).isGreaterThan(16);
        } finally {
            states.forEach(WhisperDecoder.State::close);
        }
    }

    private static double maxDifference(float[] a, float[] b) {
        assertThat(a).hasSameSizeAs(b);
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }

    @Test
    void shouldLeaveNoArrayBehindOnTheModelsManagerWithEveryDecoding() {
        // Given the number of arrays the tiny model's manager holds (its sub-managers included)
        ai.djl.ndarray.BaseNDManager base = (ai.djl.ndarray.BaseNDManager) TinyModels.model().manager();
        int before = base.getManagedArrays().size();
        for (BeamDecoding.Kind kind : BeamDecoding.Kind.values()) {
            int beams = kind == BeamDecoding.Kind.GREEDY ? 1 : 5;
            // When searches run past the beams' cache growth to the cap, to the end, and are closed early
            for (int cap : new int[] {20, 3}) {
                try (Transcription t = transcriber.start(utterances.get(0), "en", cap, beams, kind)) {
                    while (!t.step()) {
                        // to the end or the cap
                    }
                }
            }
            try (Transcription t = transcriber.start(utterances.get(1), "en", 20, beams, kind)) {
                t.step();
                t.step();
            }
            // Then every array they made (cross K/V, caches, gathered rows, logits) is gone again
            assertThat(base.getManagedArrays().size()).as(kind.toString()).isEqualTo(before);
        }
    }

    @Test
    void shouldRefuseABeamReorderToARowThatIsNotThereAndGreedyWithTwoBeams() {
        // Given beams of one row
        try (WhisperDecoder.State state = transcriber.decoder().newState(utterances.get(0))) {
            transcriber.decoder().decode(state, new long[] {tokenizer.startOfTranscript()}, false).close();
            try (WhisperDecoder.Beams beams = transcriber.decoder().beams(state)) {
                // When asked for row 1, or for a token count that is not the rows', Then refused in words
                assertThatThrownBy(() -> beams.reorder(new int[] {0, 1})).isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("parent row 1");
                assertThatThrownBy(() -> beams.decode(new long[] {300, 301}))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2 tokens for 1 rows");
            }
        }
        // and the greedy path for more than one beam
        assertThatThrownBy(() -> transcriber.start(utterances.get(0), "en", 5, 2, BeamDecoding.Kind.GREEDY))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("exactly 1 when greedy");
    }

    @Test
    void shouldDecodeOneBeamAsTheGreedyArgmaxDoes() {
        // Given the greedy choice made one token at a time with the transcriber's own argmax
        NDArray utterance = utterances.get(0);
        long[] prompt = {tokenizer.startOfTranscript(), tokenizer.languageToken("en"), tokenizer.transcribe(),
                tokenizer.noTimestamps()};
        List<Long> greedy = new ArrayList<>();
        long[] seq = prompt;
        for (int i = 0; i < 12; i++) {
            long token;
            try (NDArray all = transcriber.decoder().forward(seq, utterance)) {
                token = transcriber.pick(all.get(seq.length - 1), i == 0);
            }
            if (token == tokenizer.endOfText()) {
                break;
            }
            greedy.add(token);
            seq = Arrays.copyOf(seq, seq.length + 1);
            seq[seq.length - 1] = token;
        }
        // When one beam searches, Then it is that sequence
        assertThat(run(utterance, 12, 1).tokens()).containsExactly(greedy.stream().mapToLong(Long::longValue).toArray());
    }

    @Test
    void shouldKeepAForkDecodingAfterItsParentIsClosed() {
        // Given a state two tokens in, and its fork
        NDArray utterance = utterances.get(1);
        WhisperDecoder decoder = transcriber.decoder();
        long[] prompt = {tokenizer.startOfTranscript(), tokenizer.languageToken("en"), tokenizer.transcribe(),
                tokenizer.noTimestamps(), 300, 301};
        WhisperDecoder.State parent = decoder.newState(utterance);
        decoder.decode(parent, prompt, false).close();
        WhisperDecoder.State fork = parent.fork();
        assertThat(fork.length()).isEqualTo(parent.length());
        // When the parent goes one way and is closed (its cross-attention stays: the fork shares it)
        decoder.decode(parent, new long[] {400}, false).close();
        parent.close();
        // Then the fork goes another way and gives the full recompute's logits of its own sequence
        long[] forked = Arrays.copyOf(prompt, prompt.length + 1);
        forked[prompt.length] = 500;
        try (NDArray step = decoder.decode(fork, new long[] {500}, false);
                NDArray all = decoder.forward(forked, utterance)) {
            float[] a = step.toFloatArray();
            float[] b = all.get(forked.length - 1).toFloatArray();
            double worst = 0;
            for (int i = 0; i < a.length; i++) {
                worst = Math.max(worst, Math.abs(a[i] - b[i]));
            }
            assertThat(worst).isLessThan(1e-4);
        } finally {
            fork.close();
        }
        assertThatThrownBy(parent::fork).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void shouldRefuseFewerThanOneBeam() {
        assertThatThrownBy(() -> transcriber.start(utterances.get(0), "en", 5, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("beams");
    }
}
