package dev.omnicall.bridge.media;

/**
 * A slice of one caller utterance, ready to publish as an Avro {@code AudioSegment} (same field names).
 *
 * @param utteranceId       utterance number within the call, from 0 (it becomes the turnId)
 * @param seq               position within the utterance, from 0
 * @param pcm               16 kHz mono signed 16-bit little-endian samples
 * @param voiced            the VAD heard speech in at least one frame of this segment
 * @param speechProbability highest VAD speech probability of the frames in this segment
 * @param endOfUtterance    the last segment: enough trailing silence followed the speech
 * @param captureStartUs    epoch µs of the first sample
 * @param captureEndUs      epoch µs just after the last sample
 * @param speechEndUs       on the end-of-utterance segment: end of the last voiced frame, else null
 * @param endOfTurnUs       on the end-of-utterance segment: when the segmenter decided, else null
 * @param speculative       on an end-of-utterance segment: the end is tentative (a short pause); the segmenter
 *                          confirms or cancels the turn later ({@link UtteranceSegmenter.SpeculationListener})
 * @param replacesTurn      on every segment of an utterance that continues a cancelled speculative turn: that
 *                          turn's id (this utterance repeats its audio from seq 0); -1 none
 */
public record Segment(
        int utteranceId,
        int seq,
        byte[] pcm,
        boolean voiced,
        float speechProbability,
        boolean endOfUtterance,
        long captureStartUs,
        long captureEndUs,
        Long speechEndUs,
        Long endOfTurnUs,
        boolean speculative,
        int replacesTurn) {

    public static final int SAMPLE_RATE = 16_000;

    /** A segment that is neither a tentative end nor part of a continued utterance. */
    public Segment(int utteranceId, int seq, byte[] pcm, boolean voiced, float speechProbability, boolean endOfUtterance,
                   long captureStartUs, long captureEndUs, Long speechEndUs, Long endOfTurnUs) {
        this(utteranceId, seq, pcm, voiced, speechProbability, endOfUtterance, captureStartUs, captureEndUs, speechEndUs,
                endOfTurnUs, false, -1);
    }

    public int samples() {
        return pcm.length / 2;
    }

    public long durationMicros() {
        return captureEndUs - captureStartUs;
    }

    @Override
    public String toString() {
        return "Segment[utterance=" + utteranceId + " seq=" + seq + " samples=" + samples() + " voiced=" + voiced
                + " p=" + speechProbability + (endOfUtterance ? (speculative ? " EOU?" : " EOU") : "")
                + (replacesTurn >= 0 ? " replaces=" + replacesTurn : "") + " " + captureStartUs + ".."
                + captureEndUs + "]";
    }
}
