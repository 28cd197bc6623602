package dev.omnicall.topologies;

import java.time.Duration;

/**
 * Settings of the conversation topology.
 *
 * @param historyTurns        completed turns kept per call and joined into each TurnRequest
 * @param historyAudioTurns   of those, how many most recent keep the caller's audio (the rest keep text only)
 * @param maxUtterance        longest caller utterance assembled; audio past it goes to the dead-letter topic
 * @param maxSegment          longest single AudioSegment accepted
 * @param gapTimeout          how long an ended utterance waits for missing segments before it is sent without them
 * @param sampleRate          the only caller-audio sample rate accepted
 * @param applicationId       written into dead letters to say who gave up
 * @param redactTranscripts   mask card-number-like digit runs and DTMF digits in the transcripts topic
 *                            (PCI-DSS hygiene for analytics consumers); off by default
 * @param stateTtl            a call not seen for this long loses its state (safety net for a CallEnded that never
 *                            comes: a bridge lost for good); longer than any call; {@link Duration#ZERO} turns it off
 * @param endedGrace          how long after its CallEnded a call's transcript (and the text of its context) is kept so
 *                            that a CallerText still on its way completes it: the worker finishes a cut turn's
 *                            transcription after the reply stopped, often after the hang-up; {@link Duration#ZERO}
 *                            clears both at CallEnded
 */
public record ConversationConfig(int historyTurns, int historyAudioTurns, Duration maxUtterance, Duration maxSegment,
                                 Duration gapTimeout, int sampleRate, String applicationId, boolean redactTranscripts,
                                 Duration stateTtl, Duration endedGrace) {

    /** Default {@link #stateTtl}: like the bridge's orphan look-back, far longer than a phone call. */
    public static final Duration DEFAULT_STATE_TTL = Duration.ofHours(4);

    /**
     * Default {@link #endedGrace}: a cut turn's transcription ends within a second or two of the hang-up on an idle
     * worker; two minutes covers a worker that is busy with other calls' first audio (transcription yields to it).
     */
    public static final Duration DEFAULT_ENDED_GRACE = Duration.ofMinutes(2);

    public static final int BYTES_PER_SAMPLE = 2;

    public ConversationConfig {
        if (historyTurns < 0) {
            throw new IllegalArgumentException("historyTurns must be >= 0, got " + historyTurns);
        }
        if (historyAudioTurns < 0 || historyAudioTurns > historyTurns) {
            throw new IllegalArgumentException("historyAudioTurns must be in 0.." + historyTurns + ", got " + historyAudioTurns);
        }
        if (maxUtterance.isNegative() || maxUtterance.isZero()) {
            throw new IllegalArgumentException("maxUtterance must be positive, got " + maxUtterance);
        }
        if (sampleRate <= 0) {
            throw new IllegalArgumentException("sampleRate must be positive, got " + sampleRate);
        }
        if (stateTtl == null || stateTtl.isNegative()) {
            throw new IllegalArgumentException("stateTtl must be zero (off) or positive, got " + stateTtl);
        }
        if (endedGrace == null || endedGrace.isNegative() || endedGrace.compareTo(CallActivity.ENDED_MEMORY) >= 0) {
            throw new IllegalArgumentException("endedGrace must be zero (off) or positive and shorter than "
                    + CallActivity.ENDED_MEMORY + " (how long a call's end is remembered), got " + endedGrace);
        }
    }

    public static ConversationConfig defaults() {
        return new ConversationConfig(8, 1, Duration.ofSeconds(60), Duration.ofSeconds(2), Duration.ofSeconds(1),
                16_000, "omnicall-streams", false, DEFAULT_STATE_TTL, DEFAULT_ENDED_GRACE);
    }

    public ConversationConfig withHistoryTurns(int turns, int audioTurns) {
        return new ConversationConfig(turns, audioTurns, maxUtterance, maxSegment, gapTimeout, sampleRate, applicationId,
                redactTranscripts, stateTtl, endedGrace);
    }

    public ConversationConfig withMaxUtterance(Duration d) {
        return new ConversationConfig(historyTurns, historyAudioTurns, d, maxSegment, gapTimeout, sampleRate, applicationId,
                redactTranscripts, stateTtl, endedGrace);
    }

    public ConversationConfig withRedactedTranscripts(boolean on) {
        return new ConversationConfig(historyTurns, historyAudioTurns, maxUtterance, maxSegment, gapTimeout, sampleRate,
                applicationId, on, stateTtl, endedGrace);
    }

    /** {@link Duration#ZERO} turns the sweep of idle calls off. */
    public ConversationConfig withStateTtl(Duration ttl) {
        return new ConversationConfig(historyTurns, historyAudioTurns, maxUtterance, maxSegment, gapTimeout, sampleRate,
                applicationId, redactTranscripts, ttl, endedGrace);
    }

    /** {@link Duration#ZERO} clears an ended call's transcript and context at its CallEnded. */
    public ConversationConfig withEndedGrace(Duration grace) {
        return new ConversationConfig(historyTurns, historyAudioTurns, maxUtterance, maxSegment, gapTimeout, sampleRate,
                applicationId, redactTranscripts, stateTtl, grace);
    }

    public long maxUtteranceBytes() {
        return maxUtterance.toMillis() * sampleRate / 1000 * BYTES_PER_SAMPLE;
    }

    public long maxSegmentBytes() {
        return maxSegment.toMillis() * sampleRate / 1000 * BYTES_PER_SAMPLE;
    }
}
