package dev.omnicall.bridge.media;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Cuts a call's 16 kHz audio, frame by frame with a VAD probability each, into utterances and publishes
 * each utterance as fixed-length {@link Segment}s.
 *
 * <p>While no one speaks, nothing is published: the silence between utterances is not sent. Only the
 * last {@code preRollMs} of it is kept in a ring, and becomes the start of the next utterance so that its
 * first syllable (which the VAD hears late) is not clipped. An utterance starts after {@code minSpeechMs}
 * of consecutive frames at or above the start threshold; it ends when {@code endOfUtteranceSilenceMs} of
 * frames below the end threshold follow (or it reaches {@code maxUtteranceMs}). The trailing silence is
 * part of the utterance. Segments are published as soon as one is full; the end-of-utterance segment
 * carries what is left and the {@code speechEndUs}/{@code endOfTurnUs} stamps.
 *
 * <p><b>Speculative turns</b> ({@code speculativeSilenceMs} &gt; 0). After that much trailing silence the
 * utterance ends tentatively: what is left goes out as an end-of-utterance segment marked {@code speculative}
 * (the turn is requested at once), and the segmenter keeps listening without publishing. If the silence reaches
 * {@code endOfUtteranceSilenceMs}, the turn is {@linkplain SpeculationListener#confirmed confirmed}. If a frame
 * that would have reset the silence run comes first (the same rule that keeps an utterance going without
 * speculation, so utterance boundaries do not change), the turn is {@linkplain SpeculationListener#cancelled
 * cancelled} and the utterance continues under the next utterance number, whose segments repeat the whole
 * utterance from its first pre-roll sample and carry {@code replacesTurn}: the next request holds all of it.
 * {@link #reset()} cancels a tentative turn.
 *
 * <p><b>Adaptive end-of-turn wait</b> ({@link SegmenterConfig#adaptive()}). The silence that ends (or confirms) an
 * utterance is asked of the call's {@link EndOfTurnEstimator} at every silent frame instead of being the fixed
 * {@code endOfUtteranceSilenceMs}; the speculative silence stays fixed. The wait that ended each utterance goes to
 * {@link SpeculationListener#endOfTurn}.
 *
 * <p>Capture times run on the sample count from the first pre-roll frame's capture time, so they stay
 * contiguous; loss concealment upstream keeps the sample clock whole. Not thread-safe: one receive loop
 * owns it. A partial utterance is dropped by {@link #reset()} (hold, hang-up).
 */
public final class UtteranceSegmenter {
    private static final int SAMPLE_RATE = Segment.SAMPLE_RATE;

    private record Frame(short[] pcm, float probability, long captureStartUs) {}

    /** What becomes of a tentatively ended utterance (called on the thread that feeds the segmenter). */
    public interface SpeculationListener {
        SpeculationListener NONE = new SpeculationListener() {};

        /** The full end-of-turn silence followed the tentative end of {@code turnId}: its reply may play. */
        default void confirmed(int turnId, long tentativeEndUs, long confirmedUs) {}

        /** The caller went on (or the call was reset) before the end of {@code turnId} was confirmed. */
        default void cancelled(int turnId, long tentativeEndUs, long cancelledUs) {}

        /**
         * The trailing silence ended utterance {@code turnId} (confirmed it, with speculation) after the wait
         * {@code decision} asked for; not called for an utterance cut at {@code maxUtteranceMs}.
         */
        default void endOfTurn(int turnId, EndOfTurnEstimator.Decision decision) {}
    }

    /** A frame of the current utterance kept for a continuation after a cancelled speculative turn. */
    private record Heard(short[] pcm, float probability, boolean voiced) {}

    /** A run of pending samples that came from one frame, for the per-segment voiced/probability. */
    private static final class Span {
        int length;
        final float probability;
        final boolean voiced;

        Span(int length, float probability, boolean voiced) {
            this.length = length;
            this.probability = probability;
            this.voiced = voiced;
        }
    }

    private final SegmenterConfig config;
    private final Consumer<Segment> out;
    private final LongSupplier epochMicros;
    private final int segmentSamples;

    private final ArrayDeque<Frame> preRoll = new ArrayDeque<>();
    private int preRollSamples;
    private int speechRunSamples;

    private boolean inUtterance;
    private int nextUtteranceId;
    private int utteranceId;
    private int seq;
    private long anchorUs;          // capture time of sample 0 of the utterance
    private long emittedSamples;    // samples of the utterance already published
    private long utteranceSamples;  // samples of the utterance taken in
    private long lastVoicedEndSample;
    private int silenceRunSamples;
    private short[] pending = new short[8192];
    private int pendingLength;
    private final List<Span> spans = new ArrayList<>();

    private final SpeculationListener speculation;
    /** Every frame of the current utterance, pre-roll included (only with speculation on). */
    private final List<Heard> heard = new ArrayList<>();
    /** The utterance ended tentatively and waits for confirmation; nothing is published meanwhile. */
    private boolean tentative;
    private long tentativeEndUs;
    /** The speculative turn the current utterance continues, or -1. */
    private int replacesTurn = -1;
    private final EndOfTurnEstimator endOfTurn;
    /** Capture time of the end of the last ended utterance's speech, or -1. */
    private long previousSpeechEndUs = -1;

    public UtteranceSegmenter(SegmenterConfig config, LongSupplier epochMicros, Consumer<Segment> out) {
        this(config, epochMicros, out, SpeculationListener.NONE);
    }

    public UtteranceSegmenter(SegmenterConfig config, LongSupplier epochMicros, Consumer<Segment> out,
                              SpeculationListener speculation) {
        this.config = config;
        this.out = out;
        this.epochMicros = epochMicros;
        this.speculation = speculation;
        this.segmentSamples = config.segmentMs() * SAMPLE_RATE / 1000;
        this.endOfTurn = new EndOfTurnEstimator(config.endOfUtteranceSilenceMs(), config.adaptive());
    }

    /**
     * Takes one VAD frame.
     *
     * @param frame          16 kHz samples (any length; 512 with Silero)
     * @param probability    the VAD's speech probability for this frame
     * @param captureStartUs epoch µs of the frame's first sample
     */
    public void accept(short[] frame, float probability, long captureStartUs) {
        if (!inUtterance) {
            idle(frame, probability, captureStartUs);
        } else if (tentative) {
            awaitingConfirmation(frame, probability);
        } else {
            speaking(frame, probability);
        }
    }

    /** True between a tentative end and its confirmation or cancellation. */
    public boolean tentative() {
        return tentative;
    }

    public boolean inUtterance() {
        return inUtterance;
    }

    /** A DTMF digit at {@code atUs} (epoch µs): the caller is keying digits (the adaptive wait lengthens). */
    public void dtmf(long atUs) {
        endOfTurn.dtmf(atUs);
    }

    /** The trailing silence a pause starting now would need to end the utterance (the fixed wait when not adaptive). */
    public int endOfTurnSilenceMs() {
        return endOfTurn.decide(epochMicros.getAsLong()).silenceMs();
    }

    /** The call's estimator (the benchmark reads the tail features behind its decisions). */
    public EndOfTurnEstimator endOfTurnEstimator() {
        return endOfTurn;
    }

    /** Drops any partial utterance and the pre-roll, cancelling a tentative turn; the utterance numbering continues. */
    public void reset() {
        if (tentative) {
            tentative = false;
            speculation.cancelled(utteranceId, tentativeEndUs, epochMicros.getAsLong());
        }
        heard.clear();
        replacesTurn = -1;
        previousSpeechEndUs = -1;
        preRoll.clear();
        preRollSamples = 0;
        speechRunSamples = 0;
        inUtterance = false;
        pendingLength = 0;
        spans.clear();
    }

    private void idle(short[] frame, float probability, long captureStartUs) {
        preRoll.addLast(new Frame(frame.clone(), probability, captureStartUs));
        preRollSamples += frame.length;
        speechRunSamples = probability >= config.startThreshold() ? speechRunSamples + frame.length : 0;
        int minSpeechSamples = Math.max(1, config.minSpeechMs() * SAMPLE_RATE / 1000);
        if (speechRunSamples >= minSpeechSamples) {
            startUtterance();
            return;
        }
        // keep the pre-roll plus the frames that may become the start of speech
        int keep = config.preRollMs() * SAMPLE_RATE / 1000 + speechRunSamples;
        while (!preRoll.isEmpty() && preRollSamples - preRoll.peekFirst().pcm().length >= keep) {
            preRollSamples -= preRoll.removeFirst().pcm().length;
        }
    }

    private void startUtterance() {
        inUtterance = true;
        utteranceId = nextUtteranceId++;
        replacesTurn = -1;
        heard.clear();
        seq = 0;
        emittedSamples = 0;
        utteranceSamples = 0;
        silenceRunSamples = 0;
        pendingLength = 0;
        spans.clear();
        anchorUs = preRoll.peekFirst().captureStartUs();
        endOfTurn.utteranceStarted();
        if (previousSpeechEndUs >= 0) {
            // the caller went on this soon after the last utterance ended: that end may have cut them off
            long speechStartUs = preRoll.peekLast().captureStartUs();
            for (var it = preRoll.descendingIterator(); it.hasNext(); ) {
                Frame f = it.next();
                if (f.probability() < config.startThreshold()) {
                    break;
                }
                speechStartUs = f.captureStartUs();
            }
            endOfTurn.resumedAfter((int) Math.max(0, (speechStartUs - previousSpeechEndUs) / 1000));
        }
        for (Frame f : preRoll) {
            boolean voiced = f.probability() >= config.startThreshold();
            append(f.pcm(), f.probability(), voiced);
            remember(f.pcm(), f.probability(), voiced);
            if (voiced) {
                endOfTurn.voiced(f.pcm());
            }
        }
        lastVoicedEndSample = utteranceSamples;
        preRoll.clear();
        preRollSamples = 0;
        speechRunSamples = 0;
        emitFullSegments();
    }

    private void speaking(short[] frame, float probability) {
        boolean voiced = probability >= config.endThreshold();
        append(frame, probability, voiced);
        remember(frame, probability, voiced);
        EndOfTurnEstimator.Decision wait = null;
        if (voiced) {
            if (silenceRunSamples > 0) {
                endOfTurn.resumedAfter(silenceRunSamples * 1000 / SAMPLE_RATE);
            }
            endOfTurn.voiced(frame);
            silenceRunSamples = 0;
            lastVoicedEndSample = utteranceSamples;
        } else {
            silenceRunSamples += frame.length;
            wait = endOfTurn.decide(epochMicros.getAsLong());
        }
        boolean pauseLongEnough = wait != null && silenceRunSamples >= wait.silenceMs() * SAMPLE_RATE / 1000;
        boolean tooLong = utteranceSamples >= (long) config.maxUtteranceMs() * SAMPLE_RATE / 1000;
        boolean pauseForSpeculation = config.speculative()
                && silenceRunSamples >= config.speculativeSilenceMs() * SAMPLE_RATE / 1000;
        if (pauseLongEnough || tooLong) {
            int ended = utteranceId;
            endUtterance();
            if (pauseLongEnough) {
                speculation.endOfTurn(ended, wait);
            }
        } else if (pauseForSpeculation) {
            emit(pendingLength, true, true);
            tentative = true;
            tentativeEndUs = lastEndOfTurnUs;
        } else {
            emitFullSegments();
        }
    }

    /**
     * After a tentative end: silence until the full end-of-turn silence confirms the turn; a frame that would have
     * kept the utterance going without speculation cancels it, and the utterance continues under a new number.
     */
    private void awaitingConfirmation(short[] frame, float probability) {
        boolean voiced = probability >= config.endThreshold();
        remember(frame, probability, voiced);
        utteranceSamples += frame.length;
        if (voiced) {
            endOfTurn.resumedAfter(silenceRunSamples * 1000 / SAMPLE_RATE);
            endOfTurn.voiced(frame);
            continueAfterCancel();
            return;
        }
        silenceRunSamples += frame.length;
        EndOfTurnEstimator.Decision wait = endOfTurn.decide(epochMicros.getAsLong());
        boolean pauseLongEnough = silenceRunSamples >= wait.silenceMs() * SAMPLE_RATE / 1000;
        boolean tooLong = utteranceSamples >= (long) config.maxUtteranceMs() * SAMPLE_RATE / 1000;
        if (pauseLongEnough || tooLong) {
            tentative = false;
            inUtterance = false;
            silenceRunSamples = 0;
            heard.clear();
            previousSpeechEndUs = captureTime(lastVoicedEndSample);
            speculation.confirmed(utteranceId, tentativeEndUs, epochMicros.getAsLong());
            if (pauseLongEnough) {
                speculation.endOfTurn(utteranceId, wait);
            }
        }
    }

    /** The speculative turn is cancelled; its whole audio, and what came since, becomes the next utterance. */
    private void continueAfterCancel() {
        int cancelled = utteranceId;
        tentative = false;
        speculation.cancelled(cancelled, tentativeEndUs, epochMicros.getAsLong());
        utteranceId = nextUtteranceId++;
        replacesTurn = cancelled;
        seq = 0;
        emittedSamples = 0;
        utteranceSamples = 0;
        pendingLength = 0;
        spans.clear();
        for (Heard h : heard) {
            append(h.pcm(), h.probability(), h.voiced());
        }
        lastVoicedEndSample = utteranceSamples;
        silenceRunSamples = 0;
        emitFullSegments();
    }

    private void remember(short[] frame, float probability, boolean voiced) {
        if (config.speculative()) {
            heard.add(new Heard(frame.clone(), probability, voiced));
        }
    }

    private void append(short[] frame, float probability, boolean voiced) {
        if (pending.length < pendingLength + frame.length) {
            pending = java.util.Arrays.copyOf(pending, Math.max(pending.length * 2, pendingLength + frame.length));
        }
        System.arraycopy(frame, 0, pending, pendingLength, frame.length);
        pendingLength += frame.length;
        utteranceSamples += frame.length;
        spans.add(new Span(frame.length, probability, voiced));
    }

    private void emitFullSegments() {
        while (pendingLength >= segmentSamples) {
            emit(segmentSamples, false);
        }
    }

    private void endUtterance() {
        emit(pendingLength, true);
        previousSpeechEndUs = captureTime(lastVoicedEndSample);
        inUtterance = false;
        silenceRunSamples = 0;
        heard.clear();
    }

    private long lastEndOfTurnUs;

    private void emit(int samples, boolean endOfUtterance) {
        emit(samples, endOfUtterance, false);
    }

    private void emit(int samples, boolean endOfUtterance, boolean speculativeEnd) {
        boolean voiced = false;
        float maxProbability = 0f;
        int remaining = samples;
        while (remaining > 0) {
            Span span = spans.get(0);
            voiced |= span.voiced;
            maxProbability = Math.max(maxProbability, span.probability);
            int take = Math.min(remaining, span.length);
            span.length -= take;
            remaining -= take;
            if (span.length == 0) {
                spans.remove(0);
            }
        }
        byte[] pcm = new byte[samples * 2];
        for (int i = 0; i < samples; i++) {
            short s = pending[i];
            pcm[2 * i] = (byte) s;
            pcm[2 * i + 1] = (byte) (s >> 8);
        }
        System.arraycopy(pending, samples, pending, 0, pendingLength - samples);
        pendingLength -= samples;
        long start = captureTime(emittedSamples);
        emittedSamples += samples;
        long end = captureTime(emittedSamples);
        Long speechEnd = endOfUtterance ? captureTime(lastVoicedEndSample) : null;
        Long endOfTurn = endOfUtterance ? epochMicros.getAsLong() : null;
        if (endOfTurn != null) {
            lastEndOfTurnUs = endOfTurn;
        }
        out.accept(new Segment(utteranceId, seq++, pcm, voiced, maxProbability, endOfUtterance, start, end,
                speechEnd, endOfTurn, speculativeEnd, replacesTurn));
    }

    private long captureTime(long sampleIndex) {
        return anchorUs + sampleIndex * 1_000_000L / SAMPLE_RATE;
    }
}
