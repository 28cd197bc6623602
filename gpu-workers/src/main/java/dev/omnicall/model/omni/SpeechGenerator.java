package dev.omnicall.model.omni;

import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.LogMelFrontend;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.SequenceCache;
import dev.omnicall.model.stream.AudioPiece;
import dev.omnicall.model.stream.CallerDecoder;
import dev.omnicall.model.stream.CallerTranscript;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Streaming speech-to-speech generation after the paper's Algorithm 1, for a worker to drive step by
 * step: {@link #start} prefills one turn (log-mel, encoder, adaptor, prompt, LLM prefill) and returns
 * its {@link TurnGenerator}; {@link TurnGenerator#step()} advances one turn by one token;
 * {@link #stepAll} advances several turns with one batched LLM forward (continuous batching: turns may
 * join and leave between calls). Single-threaded by design.
 */
public final class SpeechGenerator {
    private static final AtomicLong SPEECH_KEYS = new AtomicLong();

    private final OmniModel model;
    private final GenerationOptions options;
    private final CallerDecoder callerDecoder; // null: no caller transcription
    private final KvPool pool; // null: every turn has its own cache and attends alone (the reference path)
    private final KvPool ctcPool; // null: every turn's CTC decoder steps alone with a cache of its own
    private long perSequenceTurns;
    private boolean vocoderBatching = true;
    private int lastFusedRows; // prompt rows the last stepAll carried in its forward
    private RuntimeException riderFailure; // why the last stepAll's rider could not give its rows, or null

    /** Without caller transcription. */
    public SpeechGenerator(OmniModel model, GenerationOptions options) {
        this(model, options, null);
    }

    /**
     * callerDecoder (nullable) transcribes each turn's caller from the turn's own encoder output when
     * {@code options.transcription()} is enabled; null, or the option off, runs without it.
     */
    public SpeechGenerator(OmniModel model, GenerationOptions options, CallerDecoder callerDecoder) {
        this(model, options, callerDecoder, null);
    }

    /**
     * With a KV pool (nullable; from {@code model.llm().newPool}, owned by the caller): each turn takes a slot of
     * it and a decode step attends for all pooled turns at once. A turn whose prompt + {@code maxNewTokens} does
     * not fit a slot, or that finds every slot running a turn, gets a cache of its own and attends alone (same
     * output, counted by {@link #perSequenceTurns()}). Without a pool every turn does (the per-sequence reference).
     */
    public SpeechGenerator(OmniModel model, GenerationOptions options, CallerDecoder callerDecoder, KvPool pool) {
        this(model, options, callerDecoder, pool, null);
    }

    /**
     * With an LLM KV pool and a CTC decoder pool (each nullable; the CTC one from {@code model.ctc().newPool}, owned by
     * the caller, its slots sized for a typical reply): the CTC decoder steps of all turns with a CTC slot run in one
     * forward ({@link dev.omnicall.model.omni.CtcUnitDecoder#stepAll}); a turn that finds every CTC slot taken, or whose
     * reply outgrows its slot (moved to a cache of its own then), steps its decoder alone (same units).
     */
    public SpeechGenerator(OmniModel model, GenerationOptions options, CallerDecoder callerDecoder, KvPool pool,
            KvPool ctcPool) {
        this.model = model;
        this.options = options;
        this.callerDecoder = options.transcription().enabled() ? callerDecoder : null;
        this.pool = pool;
        this.ctcPool = ctcPool;
    }

    /** The CTC decoder's pool, or null. */
    public KvPool ctcPool() {
        return ctcPool;
    }

    /** A turn's CTC decoder stream: in a slot of the CTC pool when there is one and a slot is free. */
    dev.omnicall.model.omni.CtcUnitDecoder.Stream newCtcStream() {
        return ctcPool == null ? model.ctc().newStream() : model.ctc().newStream(ctcPool);
    }

    /** The KV pool, or null (per-sequence caches). */
    public KvPool pool() {
        return pool;
    }

    /** Turns started with a cache of their own although there is a pool (no slot free, or too long). */
    public long perSequenceTurns() {
        return perSequenceTurns;
    }

    /** True when every turn also transcribes its caller. */
    public boolean transcribes() {
        return callerDecoder != null;
    }

    public OmniModel model() {
        return model;
    }

    public GenerationOptions options() {
        return options;
    }

    /** Starts a turn from 16 kHz signed 16-bit PCM. */
    public TurnGenerator start(short[] pcm16k, List<HistoryTurn> history, CallCache reuse) {
        return start(LogMelFrontend.pcmToFloat(pcm16k), history, reuse);
    }

    /**
     * Starts a turn from 16 kHz audio in [-1, 1] with the call's earlier turns as text. reuse (nullable)
     * is the call's cache from its previous turn; the turn takes it over (and closes it if unusable).
     * {@link #begin} + the whole prefill in one slice.
     */
    public TurnGenerator start(float[] audio16k, List<HistoryTurn> history, CallCache reuse) {
        TurnStart s = begin(audio16k, history, reuse);
        try {
            s.advance(Integer.MAX_VALUE);
            return s.take();
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /**
     * The first part of {@link #start} (chunked prefill): the prompt with the speech rows' places held (their count
     * follows from the audio's length), the cache placed (the call's kept one, a pool slot, or a cache of its own)
     * with the reusable prefix kept; the log-mel, the encoder's convolutions and blocks, the adaptor and the prefill
     * itself run in the slices the driver asks of {@link TurnStart#advanceEncoder}, {@link TurnStart#advanceEncoderRows}
     * and {@link TurnStart#advance}, between its {@link #stepAll} calls. Same turn, logits and tokens as
     * {@link #start} (tested).
     */
    public TurnStart begin(float[] audio16k, List<HistoryTurn> history, CallCache reuse) {
        long startUs = nowUs();
        SequenceCache cache = reuse == null ? null : reuse.take();
        SpeechEncoding encoding = null;
        NDArray embeddings = null;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            // the speech rows' count from the audio's length (the log-mel and the encoder run in TurnStart's slices)
            encoding = model.beginEncoding(audio16k);
            long rows = model.adaptor().rows(encoding.frames());
            // the chat prompt with zero rows in the speech's place (TurnStart writes the adaptor's rows over them)
            long speechKey = -1 - SPEECH_KEYS.getAndIncrement() * 100_000L;
            NDArray held = model.manager().zeros(new Shape(rows, model.llm().spec().hiddenSize()),
                    model.llm().dataType());
            Prompt prompt = model.prompt(held, history, speechKey);
            embeddings = prompt.embeddings();
            NDScope.unregister(embeddings);
            int total = prompt.keys().length;
            int speechAt = indexOf(prompt.keys(), speechKey);
            // reuse the cached prefix of this prompt, if any
            long needed = total + options.maxNewTokens() + 1L;
            cache = place(cache, needed);
            if (cache == null) {
                cache = model.llm().newCache(needed);
            }
            int reused = Math.min(Prompt.commonPrefix(cache.positionKeys(), prompt.keys()), total - 1);
            cache.truncate(reused);
            return new TurnStart(this, startUs, prompt.keys(), reused, embeddings, speechAt, cache, encoding);
        } catch (RuntimeException e) {
            if (cache != null) {
                cache.close();
            }
            if (encoding != null) {
                encoding.close();
            }
            if (embeddings != null) {
                embeddings.close();
            }
            throw e;
        }
    }

    private static int indexOf(long[] keys, long key) {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] == key) {
                return i;
            }
        }
        throw new IllegalStateException("the prompt holds no speech row keyed " + key);
    }

    CallerDecoder callerDecoder() {
        return callerDecoder;
    }

    /**
     * Where a starting turn's LLM cache lives: the call's kept cache if still open (a pool slot runs again in
     * place), else a free or evicted pool slot when the turn fits one, else null (a new cache of its own). The
     * kept cache is closed when it is not used.
     */
    private SequenceCache place(SequenceCache kept, long needed) {
        if (kept != null && kept.isClosed()) {
            kept = null;
        }
        if (pool == null) {
            return kept;
        }
        boolean fits = needed <= pool.capacity();
        if (kept instanceof KvPool.Slot slot && slot.pool() == pool) {
            if (fits) {
                slot.resume();
                return slot;
            }
            slot.close();
            kept = null;
        }
        KvPool.Slot fresh = fits ? pool.acquire() : null;
        if (fresh != null) {
            if (kept != null) {
                kept.close(); // a cache of its own from an earlier turn: the pool slot wins, the prefix is prefilled
            }
            return fresh;
        }
        perSequenceTurns++;
        return kept;
    }

    /** How much caller-decoder work one {@link #stepAll} does after the reply's work. */
    public enum DecoderWork {
        /**
         * None: the driver has a turn queued or starting (its prefill and first audio must not wait behind the
         * decoder). A reply that ends keeps its transcript pending for {@link TurnGenerator#advanceCallerText}.
         */
        HOLD,
        /**
         * {@code tokensPerStep} tokens per turn once every turn of the batch has its first audio; a reply that ends
         * decodes its step's share too and leaves the rest pending for {@link TurnGenerator#advanceCallerText}, so no
         * step carries a whole utterance's decoding.
         */
        SLICE,
        /** As {@link #SLICE}, but a reply that ends finishes its transcript in its done step (a driver with no tail). */
        SLICE_FINISH_AT_DONE
    }

    /**
     * One step for each turn: text, units and audio of every turn's pending token, then one LLM forward
     * over all turns still running, then (when transcribing) a few caller-decoder tokens per turn, a reply
     * that ends finishing its transcript ({@link DecoderWork#SLICE_FINISH_AT_DONE}). Finished turns in the list
     * answer with an empty, done result.
     */
    public List<StepResult> stepAll(List<TurnGenerator> turns) {
        return stepAll(turns, DecoderWork.SLICE_FINISH_AT_DONE);
    }

    /** As {@link #stepAll(List)}, with the caller-decoder work the driver allows this step. */
    public List<StepResult> stepAll(List<TurnGenerator> turns, DecoderWork decoderWork) {
        return stepAll(turns, decoderWork, null, 0);
    }

    /**
     * As {@link #stepAll(List, DecoderWork)}, with a newcomer's next at most {@code riderRows} prompt rows riding along
     * (rider null: none): they go through the step's own LLM forward after the turns' tokens
     * ({@link LlamaModel#decodeWithPrompt}: the weights read once for both), or, when no turn is left running in this
     * step, through a forward of their own. The rider's encoder, when not finished, runs to its end first; when that
     * fails the step runs without the rider and {@link #lastRiderFailure()} says why (the newcomer's failure, not the
     * speaking turns'). Same turns and the same rider afterwards as the step and the slice apart, to float32 rounding.
     * {@link #lastFusedRows()} tells how many rows rode along.
     */
    public List<StepResult> stepAll(List<TurnGenerator> turns, DecoderWork decoderWork, TurnStart rider,
            int riderRows) {
        lastFusedRows = 0;
        riderFailure = null;
        if (rider != null && riderRows < 1) {
            throw new IllegalArgumentException("a rider needs at least 1 row, got " + riderRows);
        }
        List<StepResult> results = replyStep(turns, rider != null && !rider.isReady() ? rider : null, riderRows);
        if (callerDecoder != null && decoderWork != DecoderWork.HOLD) {
            transcribe(turns, results, decoderWork == DecoderWork.SLICE_FINISH_AT_DONE);
        }
        return results;
    }

    /**
     * The caller's words, after the reply's work of the step. No decoder token runs while any turn of the batch
     * still waits for its first audio chunk, so caller transcription never stands between a turn's start and its
     * first audio (a turn's first chunk comes at the same step, with the same bytes and no later, as with
     * transcription off); after that each turn advances {@code tokensPerStep} tokens per step, and a reply that
     * ends finishes what is left when {@code finishAtDone}. A reply that ends while some turn of the batch still
     * waits for its first audio (or without {@code finishAtDone} with its transcript unfinished) keeps it pending
     * ({@link TurnGenerator#hasCallerTextPending()}): its driver finishes it with
     * {@link TurnGenerator#advanceCallerText} once that is over. The decoder runs per turn (one
     * {@link CallerDecoder.Run} each), not batched.
     */
    private void transcribe(List<TurnGenerator> turns, List<StepResult> results, boolean finishAtDone) {
        boolean everyTurnSpeaks = true;
        for (TurnGenerator t : turns) {
            if (!t.isDone() && !t.hasFirstAudio()) {
                everyTurnSpeaks = false;
            }
        }
        int perStep = options.transcription().tokensPerStep();
        for (int i = 0; i < turns.size(); i++) {
            TurnGenerator t = turns.get(i);
            if (!t.transcribes()) {
                continue;
            }
            StepResult r = results.get(i);
            if (!everyTurnSpeaks) {
                continue;
            }
            if (r.done() && finishAtDone) {
                t.finishTranscription();
            } else {
                t.advanceTranscription(perStep);
            }
            CallerTranscript text = t.takeCallerText();
            if (text != null) {
                results.set(i, r.withCallerText(text));
            }
        }
    }

    /** Prompt rows the last {@link #stepAll} carried in its decode forward (0: none, or they ran apart). */
    public int lastFusedRows() {
        return lastFusedRows;
    }

    /**
     * Why the last {@link #stepAll}'s rider could not give its next rows (its encoder failed to finish), or null: the
     * step ran without them, the newcomer's start is the driver's to fail.
     */
    public RuntimeException lastRiderFailure() {
        return riderFailure;
    }

    private List<StepResult> replyStep(List<TurnGenerator> turns, TurnStart rider, int riderRows) {
        List<StepResult> results = new ArrayList<>(turns.size());
        List<TurnGenerator> running = new ArrayList<>();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            // the rider's next rows first: a failure there (its encoder's end) is the newcomer's alone, the step goes on
            TurnStart.PromptChunk chunk = null;
            if (rider != null) {
                try {
                    chunk = rider.nextChunk(riderRows);
                } catch (RuntimeException e) {
                    riderFailure = e;
                }
            }
            // the CTC units of every running turn's pending state: one forward for the pooled streams
            List<TurnGenerator> live = turns.stream().filter(t -> !t.isDone()).toList();
            int[][] units = ctcUnits(live);
            // per turn: emit the pending token's text and units; the chunks that are due, vocoded together
            int k = 0;
            List<Integer> due = new ArrayList<>();
            for (TurnGenerator t : turns) {
                if (t.isDone()) {
                    results.add(StepResult.finished(t.isCancelled()));
                    continue;
                }
                StepResult r = vocoderBatching ? t.emitPendingText(units[k++]) : t.emitPending(units[k++]);
                if (t.chunkDue()) {
                    due.add(results.size());
                }
                results.add(r);
                if (!r.done()) {
                    running.add(t);
                }
            }
            vocodeDue(turns, results, due);
            if (running.isEmpty()) {
                if (chunk != null) {
                    // nothing to ride along with: a forward of its own
                    rider.chunkDone(chunk, model.llm().forward(chunk.inputs(), chunk.cache(), chunk.keys()));
                }
                return results;
            }
            // one batched LLM forward for every turn still running
            long[] tokens = running.stream().mapToLong(TurnGenerator::pendingToken).toArray();
            LlamaModel.Output out;
            if (chunk != null) {
                // the newcomer's next prompt rows in the same forward (one read of the weights for both)
                LlamaModel.Fused fused = model.llm().decodeWithPrompt(tokens,
                        running.stream().map(TurnGenerator::cache).toList(), chunk.inputs(), chunk.cache(),
                        chunk.keys());
                rider.chunkDone(chunk, fused.prompt());
                lastFusedRows = chunk.keys().length;
                out = fused.decode();
            } else if (pool != null) {
                // pooled turns attend together, any others one by one
                out = model.llm().decode(tokens, running.stream().map(TurnGenerator::cache).toList());
            } else {
                // the per-sequence reference path
                out = model.llm().decodeBatch(tokens, running.stream().map(t -> (KvCache) t.cache()).toList());
            }
            long[] next = out.lastLogits().argMax(-1).toLongArray();
            for (int i = 0; i < running.size(); i++) {
                NDArray state = out.hidden().get(i).duplicate();
                NDScope.unregister(state);
                running.get(i).acceptNext(next[i], state);
            }
        }
        return results;
    }

    /** The step's due chunks of every turn in one padded vocoder forward ({@link StreamingVocoder#pushAll}). */
    private void vocodeDue(List<TurnGenerator> turns, List<StepResult> results, List<Integer> due) {
        if (due.isEmpty()) {
            return;
        }
        List<StreamingVocoder> vocoders = new ArrayList<>(due.size());
        List<int[]> units = new ArrayList<>(due.size());
        List<Boolean> last = new ArrayList<>(due.size());
        for (int i : due) {
            TurnGenerator t = turns.get(i);
            vocoders.add(t.dueVocoder());
            units.add(t.dueUnits());
            last.add(t.chunkLast());
        }
        List<AudioPiece> pieces = StreamingVocoder.pushAll(vocoders, units, last);
        for (int j = 0; j < due.size(); j++) {
            int i = due.get(j);
            results.set(i, results.get(i).withAudio(List.of(turns.get(i).acceptChunk(pieces.get(j)))));
        }
    }

    /**
     * true (the default): the chunks due in a step are vocoded in one padded forward for all turns; false: one turn
     * at a time (the reference). Same audio either way (float32 rounding aside; tested).
     */
    public SpeechGenerator withVocoderBatching(boolean on) {
        this.vocoderBatching = on;
        return this;
    }

    private int[][] ctcUnits(List<TurnGenerator> live) {
        if (ctcPool == null) {
            // the per-turn reference: each decoder steps alone
            int[][] units = new int[live.size()][];
            for (int i = 0; i < live.size(); i++) {
                units[i] = live.get(i).ctcStream().step(live.get(i).pendingState());
            }
            return units;
        }
        return model.ctc().stepAll(live.stream().map(TurnGenerator::ctcStream).toList(),
                live.stream().map(TurnGenerator::pendingState).toList());
    }

    static long nowUs() {
        Instant now = Instant.now();
        return ChronoUnit.MICROS.between(Instant.EPOCH, now);
    }
}
