package dev.omnicall.model.omni;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.SequenceCache;
import dev.omnicall.model.WhisperEncoder;
import java.util.Arrays;

/**
 * A turn being started in slices (chunked prefill), from {@link SpeechGenerator#begin}: the prompt (with the speech
 * rows' places held: their count follows from the audio's length) was computed by {@code begin}, the cache placed and
 * the reusable prefix kept; the log-mel, the encoder's convolutions and its blocks run here ({@link SpeechEncoding}).
 * Each {@link #advanceEncoder(int)} runs at most that many more of the encoder's blocks, or
 * {@link #advanceEncoderRows(long)} at most that much of its work cut at any row; after the last block the adaptor's
 * rows are written into the prompt. Each {@link #advance(int)} then prefills at most that
 * many more prompt rows ({@link LlamaModel#forward} over a slice appends to the cache at the next positions, so slices
 * give the prefill of the whole prompt; an encoder not finished yet runs to its end first). A driver interleaves slices
 * with {@link SpeechGenerator#stepAll} of the running turns, so a newcomer's start never holds them for more than one
 * slice. Once the last row is in, {@link #take()} hands out the {@link TurnGenerator}. {@code SpeechGenerator.start}
 * is {@code begin} + one slice of every block and every row. Not thread-safe.
 */
public final class TurnStart implements SlicedStart, AutoCloseable {
    private final SpeechGenerator generator;
    private final long startUs;
    private final long[] keys; // the whole prompt's position keys
    private final int reused; // prompt rows found in the call's cache
    private final NDArray embeddings; // [rows, dim]: the whole prompt (zeros in the speech rows until the encoder ends)
    private final int speechAt; // the prompt row of the first speech row
    private SequenceCache cache;
    private SpeechEncoding encoding; // the log-mel, convolutions and blocks still to run, or null once its rows are in
    private NDArray encoderOut; // kept for the caller transcription, or null
    private int encoderSlices;
    private int next; // the first prompt row not yet in the cache
    private int slices;
    private float[] firstLogits;
    private TurnGenerator turn;
    private boolean closed;

    TurnStart(SpeechGenerator generator, long startUs, long[] keys, int reused, NDArray embeddings, int speechAt,
            SequenceCache cache, SpeechEncoding encoding) {
        this.generator = generator;
        this.startUs = startUs;
        this.keys = keys;
        this.reused = reused;
        this.embeddings = embeddings;
        this.speechAt = speechAt;
        this.cache = cache;
        this.encoding = encoding;
        this.next = reused;
    }

    /**
     * Runs the encoder's prelude if it has not run (the log-mel and the convolutions) and up to {@code maxBlocks} (≥ 1)
     * more of its blocks (finishing one in progress counts as one); after the last one, the adaptor, whose rows go into
     * the prompt. True once they are there (at once when they already were).
     */
    public boolean advanceEncoder(int maxBlocks) {
        if (maxBlocks < 1) {
            throw new IllegalArgumentException("an encoder slice needs at least 1 block, got " + maxBlocks);
        }
        if (!encoderRunning()) {
            return true;
        }
        return encoding.advanceBlocks(maxBlocks) && speechIntoPrompt();
    }

    /**
     * Runs the next piece of the encoder's prelude alone (the log-mel, then the convolutions), or at most
     * {@code blockRows} (≥ 1) more block-rows of its blocks, cut at any row ({@link WhisperEncoder.Pass#advanceRows});
     * after the last block, the adaptor, whose rows go into the prompt. True once they are there (at once when they
     * already were).
     */
    public boolean advanceEncoderRows(long blockRows) {
        if (blockRows < 1) {
            throw new IllegalArgumentException("an encoder slice needs at least 1 block-row, got " + blockRows);
        }
        if (!encoderRunning()) {
            return true;
        }
        return encoding.advanceRows(blockRows) && speechIntoPrompt();
    }

    /** Counts a slice when the encoder still runs; false once its rows are in the prompt. */
    private boolean encoderRunning() {
        if (closed) {
            throw new IllegalStateException("the turn start was closed");
        }
        if (encoding == null) {
            return false;
        }
        encoderSlices++;
        return true;
    }

    /** The finished encoder's output through the adaptor, over the zeros begin held for its rows. */
    private boolean speechIntoPrompt() {
        NDArray out = encoding.take();
        encoding.close();
        encoding = null;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray speech = generator.model().adapt(out).toType(embeddings.getDataType(), false);
            embeddings.set(new NDIndex("{}:{}", speechAt, speechAt + speech.getShape().get(0)), speech);
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
        if (generator.callerDecoder() == null) {
            out.close();
        } else {
            encoderOut = out; // the caller's transcription reads the same encoder output (no second pass)
        }
        return true;
    }

    /** The encoder's blocks still to run, the one in progress included (0 once the speech rows are in the prompt). */
    public int encoderBlocksLeft() {
        return encoding == null ? 0 : encoding.blocksLeft();
    }

    /** The encoder's pieces before its blocks still to run: 2 (log-mel, convolutions), 1 or 0. */
    public int encoderPreludeLeft() {
        return encoding == null ? 0 : encoding.preludeLeft();
    }

    /** The encoder's work left in block-rows ({@link WhisperEncoder.Pass#blockRowsLeft}; 0 once its rows are in). */
    public double encoderBlockRowsLeft() {
        return encoding == null ? 0 : encoding.blockRowsLeft();
    }

    /** The encoder's frames (a block's rows), or 0 once its rows are in the prompt. */
    public long encoderFrames() {
        return encoding == null ? 0 : encoding.frames();
    }

    /** Encoder slices run so far. */
    public int encoderSlices() {
        return encoderSlices;
    }

    /**
     * Prefills up to {@code maxRows} (≥ 1) more prompt rows; true once the whole prompt is in and the turn is ready
     * for {@link #take()}.
     */
    public boolean advance(int maxRows) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("a prefill slice needs at least 1 row, got " + maxRows);
        }
        if (isReadyOrCheck()) {
            return true;
        }
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            PromptChunk chunk = nextChunk(maxRows);
            return chunkDone(chunk, generator.model().llm().forward(chunk.inputs(), chunk.cache(), chunk.keys()));
        }
    }

    /**
     * The next at most {@code maxRows} prompt rows, for a forward outside this class ({@link SpeechGenerator#stepAll}
     * with a rider: the rows go into a decode step's own forward); {@link #chunkDone} then takes that forward's output.
     * An encoder not finished yet runs to its end first. The inputs are a view, registered in the caller's scope.
     */
    PromptChunk nextChunk(int maxRows) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("a prefill slice needs at least 1 row, got " + maxRows);
        }
        if (isReadyOrCheck()) {
            throw new IllegalStateException("the prompt is in: nothing left to prefill");
        }
        if (encoding != null) {
            advanceEncoder(Integer.MAX_VALUE);
        }
        int to = (int) Math.min(keys.length, (long) next + maxRows);
        return new PromptChunk(embeddings.get(new NDIndex("{}:{}", next, to)), Arrays.copyOfRange(keys, next, to),
                cache, to);
    }

    /** Prompt rows of one forward: their inputs [rows, dim], position keys, the cache they go into, the row after. */
    record PromptChunk(NDArray inputs, long[] keys, SequenceCache cache, int to) {
    }

    /**
     * The chunk's forward ran ({@code out}: its normed hidden states and its last row's logits, its rows now in the
     * cache); true once the whole prompt is in and the turn is ready for {@link #take()}.
     */
    boolean chunkDone(PromptChunk chunk, LlamaModel.Output out) {
        next = chunk.to();
        slices++;
        if (next < keys.length) {
            return false;
        }
        // the last row's logits give the first token; its state feeds the CTC decoder at the first step
        firstLogits = out.lastLogits().toFloatArray();
        long first = out.lastLogits().argMax().getLong();
        NDArray state = out.hidden().get(chunk.keys().length - 1).duplicate();
        NDScope.unregister(state);
        CallerTranscription transcription = encoderOut == null ? null
                : new CallerTranscription(generator.callerDecoder(), generator.options().transcription(), encoderOut);
        turn = new TurnGenerator(generator, cache, first, state, startUs, reused, transcription);
        cache = null; // the turn owns it now
        encoderOut = null; // the transcription owns it now
        embeddings.close();
        return true;
    }

    /** True when the turn is ready; throws when the start was closed. */
    private boolean isReadyOrCheck() {
        if (closed) {
            throw new IllegalStateException("the turn start was closed");
        }
        return turn != null;
    }

    /** Prompt rows still to prefill. */
    public int rowsLeft() {
        return keys.length - next;
    }

    /** Prompt rows in all (the reused prefix included). */
    public int promptRows() {
        return keys.length;
    }

    /** Slices run so far. */
    public int slices() {
        return slices;
    }

    public boolean isReady() {
        return turn != null;
    }

    /** The ready turn (once); its {@link TurnGenerator#close()} is then the caller's. */
    public TurnGenerator take() {
        if (turn == null) {
            throw new IllegalStateException("the prefill is not finished: " + rowsLeft() + " rows left");
        }
        TurnGenerator t = turn;
        turn = null;
        closed = true;
        return t;
    }

    /** The logits the prefill's last row gave (float32, [vocab]); null until ready. For tests. */
    float[] firstLogits() {
        return firstLogits;
    }

    /** Abandons an unfinished start (a cancel while prefilling): frees the cache, the prompt and the encoder output. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (turn != null) {
            turn.close();
            turn = null;
            return;
        }
        if (cache != null) {
            cache.close();
            cache = null;
        }
        if (encoding != null) {
            encoding.close();
            encoding = null;
        }
        if (encoderOut != null) {
            encoderOut.close();
            encoderOut = null;
        }
        embeddings.close();
    }
}
