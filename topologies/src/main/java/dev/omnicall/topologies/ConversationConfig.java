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
 */
public record ConversationConfig(int historyTurns, int historyAudioTurns, Duration maxUtterance, Duration maxSegment,
                                 Duration gapTimeout, int sampleRate, String applicationId, boolean redactTranscripts,
                                 Duration stateTtl) {

    /** Default {@link #stateTtl}: like the bridge's orphan look-back, far longer than a phone call. */
    public static final Duration DEFAULT_STATE_TTL = Duration.ofHours(4);

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
    }

    public static ConversationConfig defaults() {
        return new ConversationConfig(8, 1, Duration.ofSeconds(60), Duration.ofSeconds(2), Duration.ofSeconds(1),
                16_000, "omnicall-streams", false, DEFAULT_STATE_TTL);
    }

    public ConversationConfig withHistoryTurns(int turns, int audioTurns) {
        return new ConversationConfig(turns, audioTurns, maxUtterance, maxSegment, gapTimeout, sampleRate, applicationId,
                redactTranscripts, stateTtl);
    }

    public ConversationConfig withMaxUtterance(Duration d) {
        return new ConversationConfig(historyTurns, historyAudioTurns, d, maxSegment, gapTimeout, sampleRate, applicationId,
                redactTranscripts, stateTtl);
    }

    public ConversationConfig withRedactedTranscripts(boolean on) {
        return new ConversationConfig(historyTurns, historyAudioTurns, maxUtterance, maxSegment, gapTimeout, sampleRate,
                applicationId, on, stateTtl);
    }

    /** {@link Duration#ZERO} turns the sweep of idle calls off. */
    public ConversationConfig withStateTtl(Duration ttl) {
        return new ConversationConfig(historyTurns, historyAudioTurns, maxUtterance, maxSegment, gapTimeout, sampleRate,
                applicationId, redactTranscripts, ttl);
    }

    public long maxUtteranceBytes() {
        return maxUtterance.toMillis() * sampleRate / 1000 * BYTES_PER_SAMPLE;
    }

    public long maxSegmentBytes() {
        return maxSegment.toMillis() * sampleRate / 1000 * BYTES_PER_SAMPLE;
    }
}
