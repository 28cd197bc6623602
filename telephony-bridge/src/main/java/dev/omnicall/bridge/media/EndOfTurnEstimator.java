package dev.omnicall.bridge.media;

import java.util.Locale;

/**
 * One call's adaptive end-of-turn wait: how much trailing silence the current pause needs before it ends the
 * utterance, from signals the bridge already has. Fed by {@link UtteranceSegmenter} frame by frame (one receive
 * thread; not thread-safe).
 *
 * <p>The rules, first match wins, the result kept within {@link AdaptiveEndOfTurn}'s bounds:
 * <ol>
 *   <li><b>DTMF</b>: a key was pressed in the last {@value #DTMF_WINDOW_MS} ms, the caller is entering digits
 *       → the longest wait.</li>
 *   <li><b>Finished</b>: the pitch of the last {@value #TAIL_FRAMES} voiced frames (32 ms each) falls at least
 *       {@value #FALL_SEMITONES} semitones (least-squares line), after at least {@value #MIN_VOICED_MS_FOR_FINISHED} ms
 *       of speech (a statement, a falling question) → the shortest wait.</li>
 *   <li><b>Unfinished</b>: the voice is held level to the end, at least {@value #LEVEL_PITCHED_FRAMES} of those frames
 *       pitched and the line within ±{@value #LEVEL_SEMITONES} semitones (a filled "uhhh", a level list item) → the
 *       longest wait.</li>
 *   <li>Otherwise (a rising end, which is a yes/no question as often as an unfinished list item; too little pitch to
 *       tell; a short utterance) → the configured base wait.</li>
 * </ol>
 * Then a per-call floor ("pausing"): a caller who has paused P ms and gone on, inside an utterance (the silence did
 * not end it) or within the longest wait after an utterance ended (the end cut the caller off), gets at least
 * P + {@value #PAUSE_MARGIN_MS} ms from then on, so a slow speaker is cut at most once. Off ({@code enabled=false}):
 * always the base wait ("fixed").
 *
 * <p>Tried and left out: the energy fall at the end (the VAD's last voiced frames already hold the decay into silence,
 * so it was large for every utterance of the test speech), and a rising end as unfinished (espeak-ng ends every
 * question of the test set rising, as high as its comma continuations: it would have lengthened the wait of most
 * questions).
 *
 * <p>Pitch: normalized cross-correlation of each voiced frame over 70..500 Hz (the shortest lag within 90 % of the
 * best, against octave-down errors), pitched when the correlation reaches {@value #VOICING}.
 */
public final class EndOfTurnEstimator {

    /** Why a pause got its wait (the metric's tag). */
    public enum Reason {
        FIXED, BASE, FINISHED, UNFINISHED, DTMF, PAUSING;

        public String tag() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The trailing silence a pause needs, and why. */
    public record Decision(int silenceMs, Reason reason) {}

    /**
     * What the end of the speech before a pause sounded like.
     *
     * @param voicedMs       voiced time of the utterance so far
     * @param pitchedFrames  frames of the tail with a pitch
     * @param pitchTrendSt   least-squares pitch change over the tail, semitones (negative: falling); NaN below 3 pitched
     */
    public record Tail(int voicedMs, int pitchedFrames, double pitchTrendSt) {}

    static final int TAIL_FRAMES = 10;
    static final int DTMF_WINDOW_MS = 4_000;
    static final double FALL_SEMITONES = 1.5;
    static final double LEVEL_SEMITONES = 0.5;
    static final int LEVEL_PITCHED_FRAMES = 6;
    static final int MIN_VOICED_MS_FOR_FINISHED = 480;
    static final int PAUSE_MARGIN_MS = 150;
    static final double VOICING = 0.5;

    private static final int SAMPLE_RATE = Segment.SAMPLE_RATE;

    private final int baseMs;
    private final AdaptiveEndOfTurn bounds;
    /** The answer when switched off (asked on every silent frame of every call). */
    private final Decision fixed;

    // the current utterance
    private final double[] tailSemitones = new double[TAIL_FRAMES]; // NaN: unpitched
    private int tailCount;
    private int tailNext;
    private long voicedSamples;
    private Decision pauseDecision;
    private Tail lastTail;

    // the call
    private long lastDtmfUs = Long.MIN_VALUE;
    private int longestResumedPauseMs;

    public EndOfTurnEstimator(int baseMs, AdaptiveEndOfTurn bounds) {
        this.baseMs = baseMs;
        this.bounds = bounds;
        this.fixed = new Decision(baseMs, Reason.FIXED);
    }

    public boolean enabled() {
        return bounds.enabled();
    }

    /** A new utterance: forget the last one's tail (the call's DTMF and pauses stay). */
    public void utteranceStarted() {
        tailCount = 0;
        tailNext = 0;
        voicedSamples = 0;
        pauseDecision = null;
    }

    /** A voiced frame of the current utterance. */
    public void voiced(short[] pcm) {
        pauseDecision = null;
        if (!bounds.enabled()) {
            return;
        }
        voicedSamples += pcm.length;
        double hz = pitchHz(pcm);
        tailSemitones[tailNext] = hz > 0 ? 12 * Math.log(hz / 100.0) / Math.log(2) : Double.NaN;
        tailNext = (tailNext + 1) % TAIL_FRAMES;
        tailCount = Math.min(TAIL_FRAMES, tailCount + 1);
    }

    /**
     * The caller spoke again after {@code pauseMs} of silence: inside an utterance, or after one that ended (then only
     * a pause up to the longest wait counts: a longer one is a new turn, not a cut).
     */
    public void resumedAfter(int pauseMs) {
        if (bounds.enabled() && pauseMs <= bounds.maxSilenceMs()) {
            longestResumedPauseMs = Math.max(longestResumedPauseMs, pauseMs);
        }
    }

    /** A DTMF digit ended at {@code atUs} (epoch µs). */
    public void dtmf(long atUs) {
        lastDtmfUs = atUs;
    }

    /** The silence the current pause needs at {@code nowUs} (epoch µs); asked on every silent frame. */
    public Decision decide(long nowUs) {
        if (!bounds.enabled()) {
            return fixed;
        }
        if (pauseDecision == null) {
            lastTail = tail();
            pauseDecision = fromTail(lastTail);
        }
        Decision d = pauseDecision;
        if (lastDtmfUs != Long.MIN_VALUE && nowUs - lastDtmfUs <= DTMF_WINDOW_MS * 1000L) {
            d = new Decision(bounds.maxSilenceMs(), Reason.DTMF);
        }
        if (longestResumedPauseMs > 0 && longestResumedPauseMs + PAUSE_MARGIN_MS > d.silenceMs()) {
            d = new Decision(longestResumedPauseMs + PAUSE_MARGIN_MS, Reason.PAUSING);
        }
        int clamped = Math.max(bounds.minSilenceMs(), Math.min(bounds.maxSilenceMs(), d.silenceMs()));
        return clamped == d.silenceMs() ? d : new Decision(clamped, d.reason());
    }

    /** The tail features behind the last decision (for the benchmark's report), or null. */
    public Tail lastTail() {
        return lastTail;
    }

    private Decision fromTail(Tail t) {
        if (t.pitchedFrames() < 3) {
            return new Decision(baseMs, Reason.BASE);
        }
        if (t.pitchTrendSt() <= -FALL_SEMITONES && t.voicedMs() >= MIN_VOICED_MS_FOR_FINISHED) {
            return new Decision(bounds.minSilenceMs(), Reason.FINISHED);
        }
        if (t.pitchedFrames() >= LEVEL_PITCHED_FRAMES && Math.abs(t.pitchTrendSt()) < LEVEL_SEMITONES) {
            return new Decision(bounds.maxSilenceMs(), Reason.UNFINISHED);
        }
        return new Decision(baseMs, Reason.BASE);
    }

    private Tail tail() {
        int n = tailCount;
        int first = (tailNext - n + TAIL_FRAMES) % TAIL_FRAMES;
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        int pitched = 0;
        for (int i = 0; i < n; i++) {
            int k = (first + i) % TAIL_FRAMES;
            double st = tailSemitones[k];
            if (!Double.isNaN(st)) {
                pitched++;
                sx += i;
                sy += st;
                sxx += (double) i * i;
                sxy += i * st;
            }
        }
        double trend = Double.NaN;
        if (pitched >= 3) {
            double slope = (pitched * sxy - sx * sy) / (pitched * sxx - sx * sx);
            trend = slope * (n - 1);
        }
        return new Tail((int) (voicedSamples * 1000 / SAMPLE_RATE), pitched, trend);
    }

    /**
     * Pitch of a frame in Hz, 0 when it has none: normalized cross-correlation over 70..500 Hz on every other sample
     * (the caller's audio is 8 kHz telephone speech upsampled, so nothing above 4 kHz is lost), the shortest lag within
     * 90 % of the best correlation (against octave-down errors).
     */
    static double pitchHz(short[] pcm) {
        int n = pcm.length / 2;
        int rate = SAMPLE_RATE / 2;
        double mean = 0;
        for (int i = 0; i < n; i++) {
            mean += pcm[2 * i];
        }
        mean /= n;
        double[] x = new double[n];
        double[] energy = new double[n + 1]; // energy[i]: sum of x^2 over [0, i)
        for (int i = 0; i < n; i++) {
            x[i] = pcm[2 * i] - mean;
            energy[i + 1] = energy[i] + x[i] * x[i];
        }
        int minLag = rate / 500;
        int maxLag = Math.min(rate / 70, n / 2);
        double[] r = new double[maxLag + 2];
        double best = 0;
        for (int lag = minLag; lag <= maxLag; lag++) {
            double xy = 0;
            for (int i = 0; i + lag < n; i++) {
                xy += x[i] * x[i + lag];
            }
            double xx = energy[n - lag];
            double yy = energy[n] - energy[lag];
            r[lag] = xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0;
            best = Math.max(best, r[lag]);
        }
        if (best < VOICING) {
            return 0;
        }
        for (int lag = minLag + 1; lag < maxLag; lag++) {
            if (r[lag] >= 0.9 * best && r[lag] >= r[lag - 1] && r[lag] >= r[lag + 1]) {
                // parabolic interpolation between the neighbouring lags: a semitone is ~6 % of the lag
                double denom = r[lag - 1] - 2 * r[lag] + r[lag + 1];
                double offset = denom < 0 ? 0.5 * (r[lag - 1] - r[lag + 1]) / denom : 0;
                return rate / (lag + offset);
            }
        }
        return 0;
    }
}
