package dev.omnicall.worker.engine.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.LogMelFrontend;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.SequenceCache;
import dev.omnicall.model.omni.SlicedStart;
import dev.omnicall.model.omni.SpeechEncoding;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.worker.engine.TurnInput;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;

/**
 * A LLaMA-Omni2 turn being started in slices (chunked prefill), the same prompt and cache as the one-shot
 * {@link Omni2Session#prefillAtOnce}: {@link #begin} plans the prompt from its pieces' keys alone (a speech's rows
 * follow from its length), places the cache (the call's kept one, a pool slot, or one of its own) and keeps the
 * reusable prefix, embeds the text rows after it and holds zeros in the places of the speech rows still to encode.
 * Each speech past the prefix (this turn's, and history audio the cache does not hold) then runs through log-mel,
 * convolutions and encoder blocks in the driver's slices ({@link SpeechEncoding}, one speech after another), its
 * adaptor rows written over the held places when its last block ends; then {@link #advance(int)} prefills the prompt
 * rows slice by slice ({@link LlamaModel#forward} over a slice appends to the cache at the next positions), or the
 * engine's step carries them in its decode forward ({@link #nextChunk}, {@link #chunkDone}). Once the last row is in,
 * {@link #take} hands out the {@link Omni2Session}. Not thread-safe.
 */
final class Omni2Start implements SlicedStart, AutoCloseable {
    private final Omni2Model model;
    private final TurnInput input;
    private final long[] keys; // the whole prompt's position keys
    private final int reused; // positions found in the call's cache
    private final boolean pooled;
    private final int speechEncoded;
    private SequenceCache cache;
    private final NDArray rows; // [keys - reused, H]: text embedded; zeros where a speech is still to encode
    private final Deque<PendingSpeech> speeches = new ArrayDeque<>(); // in prompt order
    private int next; // the first prompt position not yet in the cache
    private int encoderSlices;
    private int slices;
    private Omni2Session.Prefilled prefilled; // once the last row is in, until taken
    private boolean closed;

    /** A speech still to encode: its slices, where its kept rows go in {@link #rows}, its first kept row, its rows. */
    private record PendingSpeech(SpeechEncoding encoding, int at, int from, int count) {
    }

    private Omni2Start(Omni2Model model, TurnInput input, long[] keys, int reused, boolean pooled, SequenceCache cache,
            NDArray rows, List<PendingSpeech> speeches) {
        this.model = model;
        this.input = input;
        this.keys = keys;
        this.reused = reused;
        this.pooled = pooled;
        this.cache = cache;
        this.rows = rows;
        this.speeches.addAll(speeches);
        this.speechEncoded = speeches.size();
        this.next = reused;
    }

    /**
     * The first part of a start: keys, placement and the text rows; nothing is encoded yet. {@code kept} (nullable) is
     * the call's cache from its last turn; the start owns it from here on.
     */
    static Omni2Start begin(Omni2Model model, Omni2TurnEngine.Options options, TurnInput input, SequenceCache kept,
            KvPool pool) {
        LlamaModel llm = model.llm();
        SequenceCache c = kept != null && kept.isClosed() ? null : kept;
        List<PendingSpeech> speeches = new java.util.ArrayList<>();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            // the prompt's keys from its pieces (a speech's rows from its length), the prefix the call's cache holds
            List<Omni2Model.PromptPiece> pieces = model.promptPieces(LogMelFrontend.pcmToFloat(input.pcm16k()),
                    Omni2Session.history(input));
            long[] keys = Omni2Model.keysOf(pieces);
            int reused = reusable(c, keys);
            // where the cache lives: the kept one, a pool slot, or one of its own
            if (pool != null) {
                SequenceCache placed = Omni2Session.place(c, pool, keys.length + options.maxNewTokens() + 1L);
                if (c != null && placed != c) {
                    c.close(); // its prefix is gone with it: the prompt from nothing
                    reused = reusable(null, keys);
                }
                c = placed;
            }
            boolean pooled = c instanceof KvPool.Slot s && s.pool() == pool;
            if (c == null) {
                c = llm.newCache(keys.length + options.maxNewTokens() + 1L);
            }
            c.truncate(reused);
            // the rows after the prefix: text embedded, zeros held for each speech that reaches past it
            NDList parts = new NDList();
            int start = 0;
            int at = 0;
            for (Omni2Model.PromptPiece p : pieces) {
                int end = start + p.keys().length;
                if (end > reused && p.keys().length > 0) {
                    int from = Math.max(0, reused - start);
                    if (p.speech16k() != null) {
                        parts.add(model.manager().zeros(new Shape(end - start - from, llm.spec().hiddenSize()),
                                llm.dataType()));
                        speeches.add(new PendingSpeech(model.beginEncoding(p.speech16k()), at, from,
                                p.keys().length));
                    } else {
                        parts.add(llm.embed(Arrays.copyOfRange(p.keys(), from, p.keys().length)));
                    }
                    at += end - start - from;
                }
                start = end;
            }
            NDArray rows = parts.size() == 1 ? parts.get(0).duplicate() : NDArrays.concat(parts, 0);
            NDScope.unregister(rows);
            Omni2Session.logPrompt(input, keys, reused, speeches.size());
            return new Omni2Start(model, input, keys, reused, pooled, c, rows, speeches);
        } catch (RuntimeException e) {
            speeches.forEach(s -> s.encoding().close());
            if (c != null) {
                c.close();
            }
            throw e;
        }
    }

    /** Positions of the prompt the cache holds (all but the last, which must run for the first logits). */
    private static int reusable(SequenceCache cache, long[] keys) {
        return Math.min(Prompt.commonPrefix(cache == null ? new long[0] : cache.positionKeys(), keys), keys.length - 1);
    }

    // ---- the encoder's slices (SlicedStart): the first speech still to encode, then the next

    @Override
    public int encoderBlocksLeft() {
        return speeches.stream().mapToInt(s -> s.encoding().blocksLeft()).sum();
    }

    @Override
    public int encoderPreludeLeft() {
        return speeches.isEmpty() ? 0 : speeches.peekFirst().encoding().preludeLeft();
    }

    /** Of every speech still to encode (a slice runs in the first one only, so what it ran is measured exactly). */
    @Override
    public double encoderBlockRowsLeft() {
        return speeches.stream().mapToDouble(s -> s.encoding().blockRowsLeft()).sum();
    }

    @Override
    public long encoderFrames() {
        return speeches.isEmpty() ? 0 : speeches.peekFirst().encoding().frames();
    }

    @Override
    public boolean advanceEncoder(int maxBlocks) {
        if (maxBlocks < 1) {
            throw new IllegalArgumentException("an encoder slice needs at least 1 block, got " + maxBlocks);
        }
        if (!encoderRunning()) {
            return true;
        }
        return speeches.peekFirst().encoding().advanceBlocks(maxBlocks) && speechIntoPrompt();
    }

    @Override
    public boolean advanceEncoderRows(long blockRows) {
        if (blockRows < 1) {
            throw new IllegalArgumentException("an encoder slice needs at least 1 block-row, got " + blockRows);
        }
        if (!encoderRunning()) {
            return true;
        }
        return speeches.peekFirst().encoding().advanceRows(blockRows) && speechIntoPrompt();
    }

    private boolean encoderRunning() {
        checkOpen();
        if (speeches.isEmpty()) {
            return false;
        }
        encoderSlices++;
        return true;
    }

    /** The finished speech's adaptor rows over the zeros held for them; true once no speech is left to encode. */
    private boolean speechIntoPrompt() {
        PendingSpeech s = speeches.removeFirst();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray out = s.encoding().take();
            NDScope.register(out);
            NDArray speech = model.adapt(out);
            if (speech.getShape().get(0) != s.count()) {
                throw new IllegalStateException("a speech gave " + speech.getShape().get(0) + " rows, " + s.count()
                        + " expected (speechRows)");
            }
            int kept = s.count() - s.from();
            rows.set(new NDIndex("{}:{}", s.at(), s.at() + kept),
                    speech.get(new NDIndex("{}:", s.from())).toType(rows.getDataType(), false));
        } finally {
            s.encoding().close();
        }
        return speeches.isEmpty();
    }

    // ---- the prompt rows

    @Override
    public boolean isReady() {
        return prefilled != null;
    }

    @Override
    public int rowsLeft() {
        return keys.length - next;
    }

    @Override
    public boolean advance(int maxRows) {
        if (readyOrCheck()) {
            return true;
        }
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            Chunk chunk = nextChunk(maxRows);
            return chunkDone(chunk, model.llm().forward(chunk.inputs(), cache, chunk.keys()));
        }
    }

    /** Prompt rows of one forward: their inputs [rows, H] (a view, in the caller's scope), keys, the row after. */
    record Chunk(NDArray inputs, long[] keys, int to) {
    }

    /**
     * The next at most {@code maxRows} prompt rows, for a forward outside this class (the engine's step with the rows
     * riding in its decode forward); {@link #chunkDone} then takes that forward's output. An encoder not finished yet
     * runs to its end first.
     */
    Chunk nextChunk(int maxRows) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("a prefill slice needs at least 1 row, got " + maxRows);
        }
        if (readyOrCheck()) {
            throw new IllegalStateException("the prompt is in: nothing left to prefill");
        }
        while (!speeches.isEmpty()) {
            advanceEncoder(Integer.MAX_VALUE);
        }
        int to = (int) Math.min(keys.length, (long) next + maxRows);
        return new Chunk(rows.get(new NDIndex("{}:{}", next - reused, to - reused)),
                Arrays.copyOfRange(keys, next, to), to);
    }

    /** The cache the chunks go into. */
    SequenceCache cache() {
        return cache;
    }

    /**
     * The chunk's forward ran ({@code out}: its normed hidden states and its last row's logits, its rows now in the
     * cache); true once the whole prompt is in and {@link #take} may hand out the session.
     */
    boolean chunkDone(Chunk chunk, LlamaModel.Output out) {
        next = chunk.to();
        slices++;
        if (next < keys.length) {
            return false;
        }
        // the last row's state and logits: the first token, and what the TTS LM fuses with it
        NDArray state = out.hidden().get(chunk.keys().length - 1).duplicate();
        float[] firstLogits = out.lastLogits().toType(DataType.FLOAT32, false).toFloatArray();
        NDScope.unregister(state);
        prefilled = new Omni2Session.Prefilled(cache, pooled, keys, reused, speechEncoded, state, firstLogits);
        cache = null; // the prefilled turn owns it now
        rows.close();
        return true;
    }

    /** The started session (once ready); the caller owns it from then on. */
    Omni2Session take(Omni2TurnEngine.Options options, KvPool ttsPool) {
        if (prefilled == null) {
            throw new IllegalStateException("the prefill is not finished: " + rowsLeft() + " rows left");
        }
        Omni2Session.Prefilled p = prefilled;
        prefilled = null;
        closed = true;
        try {
            return new Omni2Session(model, options, p, ttsPool);
        } catch (RuntimeException e) {
            p.state().close();
            p.cache().close();
            throw e;
        }
    }

    private boolean readyOrCheck() {
        checkOpen();
        return prefilled != null;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the turn start was closed");
        }
    }

    /** Encoder slices run so far (a speech's prelude pieces and block slices). */
    int encoderSlices() {
        return encoderSlices;
    }

    /** Prompt slices run so far (apart or riding in a step). */
    int slices() {
        return slices;
    }

    /** The call this turn belongs to. */
    String callId() {
        return input.callId();
    }

    /** Abandons an unfinished start (a cancel while starting): frees the cache (its pool slot), rows and encodings. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (prefilled != null) {
            prefilled.state().close();
            prefilled.cache().close();
            prefilled = null;
            return;
        }
        if (cache != null) {
            cache.close();
            cache = null;
        }
        speeches.forEach(s -> s.encoding().close());
        speeches.clear();
        rows.close();
    }
}
