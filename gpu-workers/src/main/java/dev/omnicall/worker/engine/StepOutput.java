package dev.omnicall.worker.engine;

import java.util.List;
import java.util.Objects;

/**
 * What one decode step produced for one session.
 *
 * @param text     the newly decoded text (may be empty: a token can end mid-character, or be a special token)
 * @param newUnits discrete units that left the CTC decoder in this step (after collapse)
 * @param audio    audio chunks the vocoder produced in this step, oldest first (Ω schedule; flushed at the end)
 * @param done     this was the session's last step
 */
public record StepOutput(String text, int newUnits, List<AudioPiece> audio, boolean done) {

    public StepOutput {
        Objects.requireNonNull(text, "text");
        audio = List.copyOf(audio);
        if (newUnits < 0) {
            throw new IllegalArgumentException("newUnits must be >= 0, got " + newUnits);
        }
    }

    /** Mono signed 16-bit little-endian PCM at {@code sampleRate} made from {@code unitCount} units. */
    public record AudioPiece(byte[] pcm, int sampleRate, int unitCount) {
        public AudioPiece {
            Objects.requireNonNull(pcm, "pcm");
            if (sampleRate < 1) {
                throw new IllegalArgumentException("sample rate must be > 0, got " + sampleRate);
            }
            if (pcm.length % 2 != 0) {
                throw new IllegalArgumentException("pcm must hold whole 16-bit samples, got " + pcm.length + " bytes");
            }
        }
    }
}
