package dev.omnicall.worker.engine;

import java.util.List;
import java.util.Objects;

/**
 * What one decode step produced for one session.
 *
 * @param text       the newly decoded text (may be empty: a token can end mid-character, or be a special token)
 * @param newUnits   discrete units that left the CTC decoder in this step (after collapse)
 * @param audio      audio chunks the vocoder produced in this step, oldest first (Ω schedule; flushed at the end)
 * @param done       this was the session's last step
 * @param callerText the caller's transcript when it was finished in this step, else null; a session hands it out
 *                   once: in a step, or, when it stopped with the transcript unfinished (cancelled, or done while
 *                   another turn of the batch still waited for its first audio), from
 *                   {@link EngineSession#advanceCallerText} while {@link EngineSession#callerTextPending()}
 */
public record StepOutput(String text, int newUnits, List<AudioPiece> audio, boolean done, CallerText callerText) {

    public StepOutput {
        Objects.requireNonNull(text, "text");
        audio = List.copyOf(audio);
        if (newUnits < 0) {
            throw new IllegalArgumentException("newUnits must be >= 0, got " + newUnits);
        }
    }

    /** A step without a caller transcript. */
    public StepOutput(String text, int newUnits, List<AudioPiece> audio, boolean done) {
        this(text, newUnits, audio, done, null);
    }

    /**
     * Mono signed 16-bit little-endian PCM at {@code sampleRate} made from {@code unitCount} units; {@code textChars}:
     * the length of the session's text so far (the concatenated {@link StepOutput#text()}s) whose speech is complete
     * at the end of this piece, -1 unknown.
     */
    public record AudioPiece(byte[] pcm, int sampleRate, int unitCount, int textChars) {
        public AudioPiece {
            Objects.requireNonNull(pcm, "pcm");
            if (sampleRate < 1) {
                throw new IllegalArgumentException("sample rate must be > 0, got " + sampleRate);
            }
            if (pcm.length % 2 != 0) {
                throw new IllegalArgumentException("pcm must hold whole 16-bit samples, got " + pcm.length + " bytes");
            }
        }

        /** Text coverage unknown. */
        public AudioPiece(byte[] pcm, int sampleRate, int unitCount) {
            this(pcm, sampleRate, unitCount, -1);
        }
    }

    /**
     * What the caller said in this turn, or why the decoder failed on it ({@code error} non-null; the other fields
     * then hold what was decoded before the failure). Times in epoch µs; {@code decodeCpuUs} is the time inside the
     * decoder's own calls.
     */
    public record CallerText(String text, String language, int tokenCount, boolean truncated, long decodeStartUs,
                             long decodeDoneUs, long decodeCpuUs, Throwable error) {
        public CallerText {
            text = text == null ? "" : text;
            language = language == null ? "" : language;
        }

        public boolean failed() {
            return error != null;
        }
    }
}
