package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * One utterance being transcribed, incrementally, by beam search over {@code beams} hypotheses (1 = greedy).
 * Each {@link #step()} extends every live hypothesis by one token: the {@code beams} best next tokens of each
 * (log-probabilities under the suppression rules), of all those candidates the best by summed log-probability,
 * an end-of-text candidate ending its hypothesis, the others continuing until {@code beams} are live; the
 * decoder then runs one position for each (a hypothesis chosen twice forks its state: cross-attention shared, the
 * self-attention cache copied). It ends when {@code beams} hypotheses have ended, or at the token cap (the live
 * ones then count too); the answer is the one with the best log-probability per text token, as whisper ranks
 * its beams without a length penalty. With one beam every step is the argmax: greedy decoding. Driven from one
 * thread; {@link #close()} frees the caches.
 */
public final class Transcription implements AutoCloseable {
    private final Transcriber owner;
    private final String language;
    private final int cap;
    private final int beams;
    private List<Hypothesis> live = new ArrayList<>(); // best first
    private final List<Hypothesis> ended = new ArrayList<>(); // end-of-text chosen (no state, no logits)
    private int steps; // tokens chosen per live hypothesis so far
    private long[] chosen; // the answer, once done
    private boolean done;
    private boolean truncated;
    private boolean closed;

    /** One hypothesis: its text tokens, summed log-probability, decoder state and the logits of its next token. */
    private static final class Hypothesis {
        final long[] tokens;
        final double logProb;
        WhisperDecoder.State state;
        NDArray pending; // float32 [1, nVocab]

        Hypothesis(long[] tokens, double logProb, WhisperDecoder.State state, NDArray pending) {
            this.tokens = tokens;
            this.logProb = logProb;
            this.state = state;
            this.pending = pending;
        }

        /** whisper's ranking without a length penalty: log-probability per text token. */
        double score() {
            return logProb / Math.max(1, tokens.length);
        }

        void release() {
            if (pending != null) {
                pending.close();
                pending = null;
            }
            if (state != null) {
                state.close();
                state = null;
            }
        }
    }

    private record Candidate(int parent, long token, double logProb) {
    }

    Transcription(Transcriber owner, WhisperDecoder.State state, String language, int cap, int beams,
            NDArray pending) {
        if (beams < 1) {
            throw new IllegalArgumentException("beams must be at least 1, got " + beams);
        }
        this.owner = owner;
        this.language = language;
        this.cap = cap;
        this.beams = beams;
        ai.djl.ndarray.NDScope.unregister(pending);
        live.add(new Hypothesis(new long[0], 0, state, pending));
    }

    /** Decodes one more token on every live hypothesis; returns {@link #isDone()}. A no-op once done. */
    public boolean step() {
        if (done) {
            return true;
        }
        try {
            List<Candidate> candidates = new ArrayList<>();
            for (int j = 0; j < live.size(); j++) {
                Hypothesis h = live.get(j);
                Transcriber.Top top = owner.top(h.pending, steps == 0, beams);
                for (int i = 0; i < top.ids().length; i++) {
                    candidates.add(new Candidate(j, top.ids()[i], h.logProb + top.logProbs()[i]));
                }
            }
            // best first; a stable sort keeps the better parent's and the better token's candidate first on ties
            candidates.sort(Comparator.comparingDouble(c -> -c.logProb()));
            long eot = owner.tokenizer().endOfText();
            List<Candidate> continuing = new ArrayList<>();
            for (Candidate c : candidates) {
                if (continuing.size() == beams) {
                    break;
                }
                if (c.token() == eot) {
                    ended.add(new Hypothesis(live.get(c.parent()).tokens, c.logProb(), null, null));
                } else {
                    continuing.add(c);
                }
            }
            if (ended.size() >= beams || continuing.isEmpty()) {
                return finish(false);
            }
            // the states first (a parent taken twice forks before it decodes), then one position each
            boolean[] taken = new boolean[live.size()];
            List<Hypothesis> next = new ArrayList<>(continuing.size());
            for (Candidate c : continuing) {
                Hypothesis parent = live.get(c.parent());
                WhisperDecoder.State state = taken[c.parent()] ? parent.state.fork() : parent.state;
                taken[c.parent()] = true;
                long[] tokens = Arrays.copyOf(parent.tokens, parent.tokens.length + 1);
                tokens[parent.tokens.length] = c.token();
                next.add(new Hypothesis(tokens, c.logProb(), state, null));
            }
            for (int j = 0; j < live.size(); j++) {
                Hypothesis h = live.get(j);
                h.pending.close();
                h.pending = null;
                if (!taken[j]) {
                    h.state.close();
                }
                h.state = null;
            }
            live = next;
            steps++;
            if (steps >= cap) {
                return finish(true);
            }
            for (Hypothesis h : live) {
                h.pending = owner.decoder().decode(h.state, new long[] {h.tokens[h.tokens.length - 1]}, false);
                ai.djl.ndarray.NDScope.unregister(h.pending);
            }
        } catch (RuntimeException e) {
            finish(false);
            throw e;
        }
        return false;
    }

    /** Picks the answer (an ended hypothesis, or at the cap a live one too) and frees every state. */
    private boolean finish(boolean atCap) {
        done = true;
        Hypothesis best = null;
        for (Hypothesis h : ended) {
            if (best == null || h.score() > best.score()) {
                best = h;
            }
        }
        boolean fromLive = false;
        if (atCap || best == null) {
            for (Hypothesis h : live) {
                if (best == null || h.score() > best.score()) {
                    best = h;
                    fromLive = true;
                }
            }
        }
        chosen = best == null ? new long[0] : best.tokens;
        truncated = atCap && fromLive;
        for (Hypothesis h : live) {
            h.release();
        }
        live = List.of();
        return true;
    }

    /** End-of-text was chosen, or the token cap reached (or closed). */
    public boolean isDone() {
        return done;
    }

    /**
     * The text: once done, the answer; before, the best live hypothesis so far (with more than one beam it may
     * still change). Special tokens dropped, trimmed; an unfinished UTF-8 character is held back.
     */
    public String text() {
        WhisperTokenizer t = owner.tokenizer();
        if (done) {
            return t.decode(chosen).strip();
        }
        long[] best = live.isEmpty() ? new long[0] : live.get(0).tokens;
        return t.decodeComplete(best, best.length).strip();
    }

    /** The language code used (given or detected), e.g. "en". */
    public String language() {
        return language;
    }

    /** Text tokens so far: the answer's once done, before that the steps taken. */
    public int tokenCount() {
        return done ? chosen.length : steps;
    }

    /** The ids of the text tokens so far (the best live hypothesis's before done). */
    public long[] tokenIds() {
        if (done) {
            return chosen.clone();
        }
        return live.isEmpty() ? new long[0] : live.get(0).tokens.clone();
    }

    /** Hypotheses searched (1 = greedy). */
    public int beams() {
        return beams;
    }

    /** True when the cap stopped it before end-of-text. */
    public boolean truncated() {
        return truncated;
    }

    /** Frees the caches; safe twice; the transcription counts as done afterwards. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (!done) {
                chosen = tokenIds();
                done = true;
                for (Hypothesis h : live) {
                    h.release();
                }
                live = List.of();
            }
        }
    }
}
