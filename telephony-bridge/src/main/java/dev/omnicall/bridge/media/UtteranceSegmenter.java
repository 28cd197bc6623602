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
 * <p>Capture times run on the sample count from the first pre-roll frame's capture time, so they stay
 * contiguous; loss concealment upstream keeps the sample clock whole. Not thread-safe: one receive loop
 * owns it. A partial utterance is dropped by {@link #reset()} (hold, hang-up).
 */
public final class UtteranceSegmenter {
    private static final int SAMPLE_RATE = Segment.SAMPLE_RATE;

    private record Frame(short[] pcm, float probability, long captureStartUs) {}

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

    public UtteranceSegmenter(SegmenterConfig config, LongSupplier epochMicros, Consumer<Segment> out) {
        this.config = config;
        this.out = out;
        this.epochMicros = epochMicros;
        this.segmentSamples = config.segmentMs() * SAMPLE_RATE / 1000;
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
        } else {
            speaking(frame, probability);
        }
    }

    public boolean inUtterance() {
        return inUtterance;
    }

    /** Drops any partial utterance and the pre-roll; the utterance numbering continues. */
    public void reset() {
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
        seq = 0;
        emittedSamples = 0;
        utteranceSamples = 0;
        silenceRunSamples = 0;
        pendingLength = 0;
        spans.clear();
        anchorUs = preRoll.peekFirst().captureStartUs();
        for (Frame f : preRoll) {
            append(f.pcm(), f.probability(), f.probability() >= config.startThreshold());
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
        if (voiced) {
            silenceRunSamples = 0;
            lastVoicedEndSample = utteranceSamples;
        } else {
            silenceRunSamples += frame.length;
        }
        boolean pauseLongEnough = silenceRunSamples >= config.endOfUtteranceSilenceMs() * SAMPLE_RATE / 1000;
        boolean tooLong = utteranceSamples >= (long) config.maxUtteranceMs() * SAMPLE_RATE / 1000;
        if (pauseLongEnough || tooLong) {
            endUtterance();
        } else {
            emitFullSegments();
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
        inUtterance = false;
        silenceRunSamples = 0;
    }

    private void emit(int samples, boolean endOfUtterance) {
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
        out.accept(new Segment(utteranceId, seq++, pcm, voiced, maxProbability, endOfUtterance, start, end,
                speechEnd, endOfTurn));
    }

    private long captureTime(long sampleIndex) {
        return anchorUs + sampleIndex * 1_000_000L / SAMPLE_RATE;
    }
}
