package dev.omnicall.model.omni;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.omnicall.model.LogMelFrontend;
import dev.omnicall.model.WhisperEncoder;

/**
 * One utterance's log-mel and Whisper encoder run in slices (a newcomer's chunked prefill): nothing at construction
 * (the encoder's frames, hence the speech rows, follow from the audio's length), then (1) the log-mel, (2) the
 * encoder's convolutions and positions ({@link WhisperEncoder#begin}), each one piece of its own, then (3) the blocks
 * cut at any row ({@link WhisperEncoder.Pass}). At a published encoder's shape (2) is most of what used to run before
 * the first slice; with a tiny encoder (1) is. Same floats as {@code OmniModel.encodeAudio} for whole blocks (tested).
 * Not thread-safe.
 */
public final class SpeechEncoding implements AutoCloseable {
    private final NDManager manager;
    private final LogMelFrontend frontend;
    private final WhisperEncoder encoder;
    private final long frames;
    private float[] audio; // until the log-mel ran
    private NDArray mel; // [nMels, melFrames] until the convolutions ran; in no NDScope
    private WhisperEncoder.Pass pass; // once the convolutions ran
    private boolean closed;

    /** Nothing runs yet; {@code audio16k}'s length gives the frames. LLaMA-Omni2's start makes its own from its model's parts. */
    public SpeechEncoding(NDManager manager, LogMelFrontend frontend, WhisperEncoder encoder, float[] audio16k) {
        this.manager = manager;
        this.frontend = frontend;
        this.encoder = encoder;
        this.audio = audio16k;
        this.frames = WhisperEncoder.framesFor(frontend.frames(audio16k.length));
        if (frames > encoder.maxFrames()) {
            throw new IllegalArgumentException("encoder input of " + frames + " frames exceeds the "
                    + encoder.maxFrames() + " positions of the checkpoint");
        }
    }

    /** Encoder frames (the output's rows, a block's block-rows), known from the audio's length. */
    public long frames() {
        return frames;
    }

    /** Pieces left before the blocks: 2 (log-mel, convolutions), 1 (convolutions) or 0. */
    public int preludeLeft() {
        return audio != null ? 2 : mel != null ? 1 : 0;
    }

    /** The encoder's blocks not finished (the one in progress included). */
    public int blocksLeft() {
        return pass == null ? encoder.blockCount() : pass.blocksLeft();
    }

    /** The blocks' work left in block-rows ({@link WhisperEncoder.Pass#blockRowsLeft}); the prelude not counted. */
    public double blockRowsLeft() {
        return pass == null ? (double) frames * encoder.blockCount() : pass.blockRowsLeft();
    }

    /** The prelude's pieces still to run, then up to {@code maxBlocks} (≥ 1) blocks; true once done. */
    public boolean advanceBlocks(int maxBlocks) {
        while (preludeLeft() > 0) {
            runPrelude();
        }
        return pass.advanceBlocks(maxBlocks);
    }

    /**
     * The next prelude piece alone (whatever the budget: it is not cut), or at most {@code blockRows} (≥ 1)
     * block-rows of the blocks; true once done.
     */
    public boolean advanceRows(long blockRows) {
        if (blockRows < 1) {
            throw new IllegalArgumentException("an encoder slice needs at least 1 block-row, got " + blockRows);
        }
        if (preludeLeft() > 0) {
            runPrelude();
            return false;
        }
        return pass.advanceRows(blockRows);
    }

    private void runPrelude() {
        if (closed) {
            throw new IllegalStateException("the speech encoding was taken or closed");
        }
        if (audio != null) {
            // (1) log-mel
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                mel = frontend.forward(manager, audio);
                NDScope.unregister(mel);
            }
            audio = null;
            return;
        }
        // (2) convolutions and positions
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            pass = encoder.begin(mel);
        } finally {
            mel.close();
            mel = null;
        }
        if (pass.frames() != frames) {
            throw new IllegalStateException("the encoder gave " + pass.frames() + " frames where the audio's length"
                    + " gives " + frames);
        }
    }

    /** The encoder states [frames, dim] once done; the caller owns them (in no NDScope). */
    public NDArray take() {
        if (pass == null) {
            throw new IllegalStateException("the speech encoding is not finished: the prelude has not run");
        }
        return pass.take();
    }

    @Override
    public void close() {
        closed = true;
        audio = null;
        if (mel != null) {
            mel.close();
            mel = null;
        }
        if (pass != null) {
            pass.close();
            pass = null;
        }
    }
}
