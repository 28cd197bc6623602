package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import java.util.ArrayList;
import java.util.List;

/**
 * Where a {@link Transcription}'s live hypotheses meet the decoder: the next-token choices of each, and one decoded
 * position for each after the search picked who continues. Three ways, chosen by {@link Kind}:
 * <ul>
 * <li>{@link Kind#BATCHED}: the hypotheses are the rows of one {@link WhisperDecoder.Beams} batch, one forward and
 * one log-softmax + top-k per step for all of them (what {@code beams} &gt; 1 uses);
 * <li>{@link Kind#GREEDY}: one hypothesis, the masked argmax, nothing scored (what one beam uses);
 * <li>{@link Kind#PER_HYPOTHESIS}: the slow, obvious reference the tests compare both with: a decoder state per
 * hypothesis, a parent chosen twice forked, one forward and one log-softmax + top-k each.
 * </ul>
 * Row j is live hypothesis j, in the order the search keeps them. Driven from one thread.
 */
sealed interface BeamDecoding extends AutoCloseable {

    enum Kind {
        BATCHED, GREEDY, PER_HYPOTHESIS
    }

    /** The k best next tokens of every live hypothesis (log-probabilities; GREEDY: the argmax, scored 0). */
    Transcriber.Top[] tops(boolean firstSampled, int k);

    /** Live hypothesis i now continues old hypothesis parents[i] with tokens[i]: decodes that one position each. */
    void advance(int[] parents, long[] tokens);

    @Override
    void close();

    /** Takes over state (after the prompt) and logits, its pending float32 [1, nVocab], whatever happens. */
    static BeamDecoding of(Kind kind, Transcriber owner, WhisperDecoder.State state, NDArray logits) {
        try {
            return switch (kind) {
                case BATCHED -> new Batched(owner, state, logits);
                case GREEDY -> new Greedy(owner, state, logits);
                case PER_HYPOTHESIS -> new PerHypothesis(owner, state, logits);
            };
        } catch (RuntimeException e) {
            logits.close();
            state.close();
            throw e;
        }
    }

    /**
     * The two ways that hold one logits array for all live hypotheses (float32 [rows, nVocab]): a step decodes the
     * next one, then frees the old.
     */
    abstract sealed class OnePending implements BeamDecoding {
        final Transcriber owner;
        NDArray pending;

        OnePending(Transcriber owner, NDArray logits) {
            this.owner = owner;
            this.pending = logits;
        }

        /** One position for every live hypothesis (after the parents' rows are in place): the next logits. */
        abstract NDArray decode(int[] parents, long[] tokens);

        /** Frees the decoder side: the batch or the one state. */
        abstract void closeDecoder();

        @Override
        public final void advance(int[] parents, long[] tokens) {
            NDArray next = decode(parents, tokens);
            NDScope.unregister(next);
            pending.close();
            pending = next;
        }

        @Override
        public final void close() {
            if (pending != null) {
                pending.close();
                pending = null;
            }
            closeDecoder();
        }
    }

    /** All live hypotheses in one batch: the search's parents reorder its rows, then one forward decodes them. */
    final class Batched extends OnePending {
        private final WhisperDecoder.Beams beams;

        Batched(Transcriber owner, WhisperDecoder.State state, NDArray logits) {
            super(owner, logits);
            this.beams = owner.decoder().beams(state);
            state.close(); // its cross-attention K/V live on in the beams
        }

        @Override
        public Transcriber.Top[] tops(boolean firstSampled, int k) {
            return owner.topOfRows(pending, firstSampled, k);
        }

        @Override
        NDArray decode(int[] parents, long[] tokens) {
            beams.reorder(parents);
            return beams.decode(tokens);
        }

        @Override
        void closeDecoder() {
            beams.close();
        }
    }

    /** One hypothesis: the masked argmax is all a step needs (no log-softmax, no top-k, no score). */
    final class Greedy extends OnePending {
        private final WhisperDecoder.State state;

        Greedy(Transcriber owner, WhisperDecoder.State state, NDArray logits) {
            super(owner, logits);
            this.state = state;
        }

        @Override
        public Transcriber.Top[] tops(boolean firstSampled, int k) {
            // with one hypothesis nothing is ranked, so the log-probability is not computed
            return new Transcriber.Top[] {new Transcriber.Top(new long[] {owner.pick(pending, firstSampled)},
                    new float[] {0f})};
        }

        @Override
        NDArray decode(int[] parents, long[] tokens) {
            if (parents.length != 1 || parents[0] != 0) {
                throw new IllegalArgumentException("greedy decoding has one hypothesis");
            }
            return owner.decoder().decode(state, tokens, false);
        }

        @Override
        void closeDecoder() {
            state.close();
        }
    }

    /** The reference: a decoder state and a forward per hypothesis; a parent chosen twice forks. */
    final class PerHypothesis implements BeamDecoding {
        private final Transcriber owner;
        private List<WhisperDecoder.State> states = new ArrayList<>();
        private List<NDArray> pending = new ArrayList<>(); // float32 [1, nVocab] each

        PerHypothesis(Transcriber owner, WhisperDecoder.State state, NDArray logits) {
            this.owner = owner;
            states.add(state);
            pending.add(logits);
        }

        @Override
        public Transcriber.Top[] tops(boolean firstSampled, int k) {
            Transcriber.Top[] tops = new Transcriber.Top[pending.size()];
            for (int j = 0; j < tops.length; j++) {
                tops[j] = owner.top(pending.get(j), firstSampled, k);
            }
            return tops;
        }

        @Override
        public void advance(int[] parents, long[] tokens) {
            pending.forEach(NDArray::close);
            pending = new ArrayList<>();
            // the states first (a parent taken twice forks before it decodes), then one position each
            boolean[] taken = new boolean[states.size()];
            List<WhisperDecoder.State> next = new ArrayList<>(parents.length);
            for (int parent : parents) {
                next.add(taken[parent] ? states.get(parent).fork() : states.get(parent));
                taken[parent] = true;
            }
            for (int j = 0; j < states.size(); j++) {
                if (!taken[j]) {
                    states.get(j).close();
                }
            }
            states = next;
            for (int i = 0; i < states.size(); i++) {
                NDArray logits = owner.decoder().decode(states.get(i), new long[] {tokens[i]}, false);
                NDScope.unregister(logits);
                pending.add(logits);
            }
        }

        @Override
        public void close() {
            pending.forEach(NDArray::close);
            pending = List.of();
            states.forEach(WhisperDecoder.State::close);
            states = List.of();
        }
    }
}
