package dev.omnicall.bridge.media;

/**
 * Decides that the caller is talking over the reply: {@code minSpeechMs} of consecutive VAD frames at or
 * above the threshold while playback is active. Requiring a run, not one frame, keeps a cough or a line
 * click (and the echo of the first syllable of our own reply) from cutting the reply off. It fires once
 * per playback; it re-arms when playback goes idle. Not thread-safe: the receive loop owns it.
 */
public final class BargeInDetector {
    private final float threshold;
    private final long minSpeechMicros;
    private long speechRunMicros;
    private boolean fired;

    public BargeInDetector(float threshold, int minSpeechMs) {
        if (!(threshold > 0 && threshold < 1) || minSpeechMs < 0) {
            throw new IllegalArgumentException("barge-in needs 0 < threshold < 1 and minSpeechMs >= 0");
        }
        this.threshold = threshold;
        this.minSpeechMicros = minSpeechMs * 1000L;
    }

    /** True exactly once when the caller has spoken long enough over active playback. */
    public boolean onFrame(float speechProbability, long frameMicros, boolean playbackActive) {
        if (!playbackActive) {
            speechRunMicros = 0;
            fired = false;
            return false;
        }
        if (fired) {
            return false;
        }
        speechRunMicros = speechProbability >= threshold ? speechRunMicros + frameMicros : 0;
        if (speechRunMicros > 0 && speechRunMicros >= minSpeechMicros) {
            fired = true;
            return true;
        }
        return false;
    }
}
