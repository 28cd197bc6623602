package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import java.util.Arrays;

/**
 * One utterance being transcribed, greedy and incremental: each {@link #step()} picks the next token from
 * the logits already computed and, unless that ends the transcript, runs the decoder on it (one position,
 * against the self-attention cache and the cross-attention keys/values computed once at start). Driven
 * from one thread; {@link #close()} frees the caches.
 */
public final class Transcription implements AutoCloseable {
    private final Transcriber owner;
    private final WhisperDecoder.State state;
    private final String language;
    private final int cap;
    private long[] tokens = new long[16];
    private int count;
    private NDArray pending; // float32 [1, nVocab]: logits for the next token
    private boolean done;
    private boolean truncated;
    private boolean closed;

    Transcription(Transcriber owner, WhisperDecoder.State state, String language, int cap, NDArray pending) {
        this.owner = owner;
        this.state = state;
        this.language = language;
        this.cap = cap;
        this.pending = pending;
        ai.djl.ndarray.NDScope.unregister(pending);
    }

    /** Decodes one more token; returns {@link #isDone()}. A no-op once done. */
    public boolean step() {
        if (done) {
            return true;
        }
        // greedy choice under the suppression rules
        long token = owner.pick(pending, count == 0);
        pending.close();
        pending = null;
        if (token == owner.tokenizer().endOfText()) {
            return finish(false);
        }
        if (count == tokens.length) {
            tokens = Arrays.copyOf(tokens, count * 2);
        }
        tokens[count++] = token;
        if (count >= cap) {
            return finish(true);
        }
        // the logits of the token after it
        try {
            pending = owner.decoder().decode(state, new long[] {token}, false);
            ai.djl.ndarray.NDScope.unregister(pending);
        } catch (RuntimeException e) {
            finish(false);
            throw e;
        }
        return false;
    }

    private boolean finish(boolean byCap) {
        done = true;
        truncated = byCap;
        state.close();
        if (pending != null) {
            pending.close();
            pending = null;
        }
        return true;
    }

    /** End-of-text was chosen, or the token cap reached (or closed). */
    public boolean isDone() {
        return done;
    }

    /** The text so far: special tokens dropped, trimmed; an unfinished UTF-8 character is held back. */
    public String text() {
        WhisperTokenizer t = owner.tokenizer();
        return (done ? t.decode(Arrays.copyOf(tokens, count)) : t.decodeComplete(tokens, count)).strip();
    }

    /** The language code used (given or detected), e.g. "en". */
    public String language() {
        return language;
    }

    /** Text tokens so far. */
    public int tokenCount() {
        return count;
    }

    /** The ids of the text tokens so far. */
    public long[] tokenIds() {
        return Arrays.copyOf(tokens, count);
    }

    /** True when the cap stopped it before end-of-text. */
    public boolean truncated() {
        return truncated;
    }

    /** Frees the caches; safe twice; the transcription counts as done afterwards. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (!done) {
                done = true;
                state.close();
                if (pending != null) {
                    pending.close();
                    pending = null;
                }
            }
        }
    }
}
