package dev.omnicall.model.omni;

import dev.omnicall.model.stream.CallerDecoder;
import dev.omnicall.model.stream.CallerTranscript;
import dev.omnicall.model.stream.TranscriptionOptions;
import ai.djl.ndarray.NDArray;

/**
 * One turn's caller transcription: the encoder output kept from the turn's start, the decoder run (started
 * lazily, at the first token asked for, so even the decoder's cross-attention set-up never sits in front of the
 * first audio), the clock and CPU time of the decoder's own calls, and the result, handed out once. A decoder
 * error becomes a failed {@link CallerTranscript}: it never escapes into the reply.
 */
final class CallerTranscription implements AutoCloseable {
    private final CallerDecoder decoder;
    private final TranscriptionOptions options;
    private NDArray encoderOut; // [frames, n_audio_state]
    private CallerDecoder.Run run;
    private long startUs;
    private long cpuNanos;
    private CallerTranscript result;
    private boolean handedOut;

    CallerTranscription(CallerDecoder decoder, TranscriptionOptions options, NDArray encoderOut) {
        this.decoder = decoder;
        this.options = options;
        this.encoderOut = encoderOut;
    }

    boolean isFinished() {
        return result != null;
    }

    boolean isHandedOut() {
        return handedOut;
    }

    /**
     * An upper bound on the decoder tokens still to run: the cap less the tokens decoded so far (end-of-text may
     * come sooner); 0 once finished.
     */
    int tokensLeft() {
        if (result != null) {
            return 0;
        }
        return Math.max(0, options.maxTokens() - (run == null ? 0 : run.tokenCount()));
    }

    /** Decodes up to {@code tokens} more tokens (no-op once finished). */
    void advance(int tokens) {
        if (result != null) {
            return;
        }
        long t0 = System.nanoTime();
        try {
            if (run == null) {
                startUs = SpeechGenerator.nowUs();
                run = decoder.start(encoderOut, options.language(), options.maxTokens());
            }
            for (int i = 0; i < tokens && !run.isDone(); i++) {
                run.step();
            }
            cpuNanos += System.nanoTime() - t0;
            if (run.isDone()) {
                result = new CallerTranscript(run.text(), run.language(), run.tokenCount(), run.truncated(), startUs,
                        SpeechGenerator.nowUs(), cpuNanos / 1000, null);
                release();
            }
        } catch (RuntimeException e) {
            cpuNanos += System.nanoTime() - t0;
            fail(e);
        }
    }

    /**
     * Decodes what is left. The decoder stops at its token cap; one that does not within the cap (plus the
     * prompt's few tokens) is a failure, not an endless loop.
     */
    void finish() {
        int guard = options.maxTokens() + 8;
        while (result == null && guard-- > 0) {
            advance(options.tokensPerStep());
        }
        if (result == null) {
            fail(new IllegalStateException("the caller decoder did not stop within " + options.maxTokens()
                    + " tokens (its cap)"));
        }
    }

    /** The result the first time it is asked for after it exists; null before and after. */
    CallerTranscript take() {
        if (result == null || handedOut) {
            return null;
        }
        handedOut = true;
        return result;
    }

    private void fail(Throwable e) {
        String text = "";
        String language = options.language();
        int count = 0;
        boolean truncated = false;
        if (run != null) {
            try {
                text = run.text();
                language = run.language();
                count = run.tokenCount();
                truncated = run.truncated();
            } catch (RuntimeException ignored) {
                // what was decoded before the failure is only a courtesy
            }
        }
        long now = SpeechGenerator.nowUs();
        result = new CallerTranscript(text, language, count, truncated, startUs == 0 ? now : startUs, now,
                cpuNanos / 1000, e);
        release();
    }

    private void release() {
        if (run != null) {
            try {
                run.close();
            } catch (RuntimeException ignored) {
                // closing a failed run must not hide its error
            }
            run = null;
        }
        if (encoderOut != null) {
            encoderOut.close();
            encoderOut = null;
        }
    }

    @Override
    public void close() {
        release();
    }
}
