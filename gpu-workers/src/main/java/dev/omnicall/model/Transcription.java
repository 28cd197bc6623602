package dev.omnicall.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * One utterance being transcribed, incrementally, by beam search over {@code beams} hypotheses (1 = greedy).
 * Each {@link #step()} extends every live hypothesis by one token: the {@code beams} best next tokens of each
 * (log-probabilities under the suppression rules), of all those candidates the best by summed log-probability,
 * an end-of-text candidate ending its hypothesis, the others continuing until {@code beams} are live; the
 * decoder then runs one position for each, all live hypotheses in one forward as the rows of a batch whose
 * self-attention caches follow the chosen parents ({@link BeamDecoding}; a step never leaves hypotheses of
 * different lengths alive, which the batch needs). It ends when {@code beams} hypotheses have ended, or at the
 * token cap (the live ones then count too); the answer is the best by the {@link LengthPenalty} (whisper's default:
 * log-probability per text token). With one beam every step is the masked argmax (greedy
 * decoding, not scored). Driven from one thread; {@link #close()} frees the caches.
 */
public final class Transcription implements AutoCloseable {
    private final Transcriber owner;
    private final String language;
    private final int cap;
    private final int beams;
    private final LengthPenalty lengthPenalty;
    private BeamDecoding decoding; // row j = live hypothesis j; null once done
    private List<Hypothesis> live = new ArrayList<>(); // best first
    private final List<Hypothesis> ended = new ArrayList<>(); // end-of-text chosen
    private int steps; // tokens chosen per live hypothesis so far
    private long[] chosen; // the answer, once done
    private boolean done;
    private boolean truncated;
    private boolean closed;

    /** One hypothesis: its text tokens and summed log-probability (0 on the greedy path, which does not score). */
    record Hypothesis(long[] tokens, double logProb) {
    }

    private record Candidate(int parent, long token, double logProb) {
    }

    /** Takes over decoding (the prompt decoded, its logits pending), closing it if this throws. */
    Transcription(Transcriber owner, BeamDecoding decoding, String language, int cap, int beams,
            LengthPenalty lengthPenalty) {
        if (beams < 1 || (decoding instanceof BeamDecoding.Greedy && beams != 1) || lengthPenalty == null) {
            decoding.close();
            throw new IllegalArgumentException("beams must be at least 1 (exactly 1 when greedy), got " + beams
                    + (lengthPenalty == null ? ", and a length penalty is needed" : ""));
        }
        this.lengthPenalty = lengthPenalty;
        this.owner = owner;
        this.language = language;
        this.cap = cap;
        this.beams = beams;
        this.decoding = decoding;
        live.add(new Hypothesis(new long[0], 0));
    }

    /** Decodes one more token on every live hypothesis; returns {@link #isDone()}. A no-op once done. */
    public boolean step() {
        if (done) {
            return true;
        }
        try {
            List<Candidate> candidates = new ArrayList<>();
            Transcriber.Top[] tops = decoding.tops(steps == 0, beams);
            for (int j = 0; j < live.size(); j++) {
                Hypothesis h = live.get(j);
                for (int i = 0; i < tops[j].ids().length; i++) {
                    candidates.add(new Candidate(j, tops[j].ids()[i], h.logProb() + tops[j].logProbs()[i]));
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
                    ended.add(new Hypothesis(live.get(c.parent()).tokens(), c.logProb()));
                } else {
                    continuing.add(c);
                }
            }
            if (ended.size() >= beams || continuing.isEmpty()) {
                return finish(false);
            }
            // every continuing hypothesis is its parent plus one token: all live ones keep the same length
            int[] parents = new int[continuing.size()];
            long[] tokens = new long[continuing.size()];
            List<Hypothesis> next = new ArrayList<>(continuing.size());
            for (int i = 0; i < parents.length; i++) {
                Candidate c = continuing.get(i);
                long[] parent = live.get(c.parent()).tokens();
                long[] extended = Arrays.copyOf(parent, parent.length + 1);
                extended[parent.length] = c.token();
                next.add(new Hypothesis(extended, c.logProb()));
                parents[i] = c.parent();
                tokens[i] = c.token();
            }
            live = next;
            steps++;
            if (steps >= cap) {
                return finish(true);
            }
            decoding.advance(parents, tokens);
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
            if (best == null || score(h) > score(best)) {
                best = h;
            }
        }
        boolean fromLive = false;
        if (atCap || best == null) {
            for (Hypothesis h : live) {
                if (best == null || score(h) > score(best)) {
                    best = h;
                    fromLive = true;
                }
            }
        }
        chosen = best == null ? new long[0] : best.tokens();
        truncated = atCap && fromLive;
        release();
        return true;
    }

    private double score(Hypothesis h) {
        return lengthPenalty.score(h.logProb(), h.tokens().length);
    }

    private void release() {
        if (decoding != null) {
            decoding.close();
            decoding = null;
        }
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
        long[] best = live.isEmpty() ? new long[0] : live.get(0).tokens();
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
        return live.isEmpty() ? new long[0] : live.get(0).tokens().clone();
    }

    /** The live hypotheses, best first (empty once done): the tests compare the decodings step by step. */
    List<Hypothesis> liveHypotheses() {
        return done ? List.of() : List.copyOf(live);
    }

    /** The hypotheses that ended at end-of-text so far, in the order they ended. */
    List<Hypothesis> endedHypotheses() {
        return List.copyOf(ended);
    }

    /** Hypotheses searched (1 = greedy). */
    public int beams() {
        return beams;
    }

    /** How the finished hypotheses are ranked. */
    public LengthPenalty lengthPenalty() {
        return lengthPenalty;
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
                release();
            }
        }
    }
}
