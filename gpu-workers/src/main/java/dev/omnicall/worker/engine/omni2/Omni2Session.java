package dev.omnicall.worker.engine.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.LogMelFrontend;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.SequenceCache;
import dev.omnicall.model.omni2.Omni2ChatPrompt;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.model.omni2.SpeechStream;
import dev.omnicall.model.omni2.TtsStream;
import dev.omnicall.worker.engine.ConversationSnapshot;
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.StepOutput;
import dev.omnicall.worker.engine.TurnInput;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One LLaMA-Omni2 reply. The prefill leaves the LLM's first logits and the state that made them; each
 * {@link #step}:
 * <ol>
 * <li>takes the greedy token and emits its text (a stop id ends the text and has none);</li>
 * <li>hands (state, token) to the reply's {@link TtsStream}, which fuses and writes units when the schedule says
 * (every R tokens, and to the end once the text has ended);</li>
 * <li>pushes the written units through the reply's {@link SpeechStream} (flow + HiFT) and emits the 24 kHz audio
 * that is ready; on the last token the stream is finished and the rest flushed;</li>
 * <li>otherwise runs the LLM over the token for the next logits and state.</li>
 * </ol>
 * A reply whose units would pass the speech limit (the flow noise's 7500 units, 300 s, or the options' lower one)
 * keeps the units that fit and ends at that step, text included, with its final chunk; it and a final write that
 * reached the TTS cap are reported by {@link #cutShort()} (the worker counts them), never thrown.
 */
final class Omni2Session implements EngineSession {
    private static final Logger LOG = LoggerFactory.getLogger(Omni2Session.class);
    private final Omni2Model model;
    private final Omni2TurnEngine.Options options;
    private final LlamaModel llm;
    private SequenceCache cache; // the call's LLM cache: prompt + reply; handed on by keep()
    private final long[] promptKeys;
    private final int reusedPositions;
    private final int speechEncoded;
    private final float[] firstLogits;
    private final TtsStream tts;
    private final NDManager speechManager;
    private final SpeechStream speech;
    private final List<Long> tokens = new ArrayList<>();
    private final List<Integer> units = new ArrayList<>();
    private NDArray state; // [H]: the final-normed state that predicted the pending token
    private long pendingToken; // the greedy token of the last logits, emitted by the next step
    private final boolean pooled; // the cache is a slot of the engine's LLM pool
    private boolean stepLast; // between read() and complete(): the token ends the text
    private String stepText = ""; // and its text
    private String emittedText = "";
    private boolean done;
    private boolean closed;
    private long firstUnitsUs;
    private long firstAudioUs;
    private final int unitCap; // units a reply may have: the options' limit, at most the flow noise's
    private String cutShort;

    /** {@link #cutShort()}: the TTS LM's final write reached its cap without the end token. */
    static final String CUT_TTS_CAP = "tts-cap";
    /** {@link #cutShort()}: the reply reached the speech limit (the flow noise's 15000 frames unless set lower). */
    static final String CUT_FLOW_NOISE = "flow-noise";

    /**
     * Starts a turn: the prompt planned against {@code kept} (the call's cache from its last turn on this worker,
     * or null: everything is recomputed, the history's carried audio re-encoded), the cache truncated to the
     * reused prefix, the rest prefilled. The session owns {@code kept} from here on.
     */
    Omni2Session(Omni2Model model, Omni2TurnEngine.Options options, TurnInput input, SequenceCache kept) {
        this(model, options, input, kept, null, null);
    }

    /**
     * As above, the TTS LM's cache a slot of {@code ttsPool} when one is free (nullable), and the LLM cache placed in
     * {@code pool} when there is one (nullable): the call's kept slot runs again in
     * place when the turn fits it; otherwise a free (or the longest-parked) slot when the prompt + the reply's
     * token limit fit one, the kept cache then closed and the prompt planned from nothing (its history's carried audio
     * encoded again, as after a move); otherwise a cache of the session's own (no slot free, or too long).
     */
    Omni2Session(Omni2Model model, Omni2TurnEngine.Options options, TurnInput input, SequenceCache kept,
            KvPool pool, KvPool ttsPool) {
        this(model, options, prefillAtOnce(model, options, input, kept, pool), ttsPool);
    }

    /**
     * A turn whose prompt is in its LLM cache ({@link #prefillAtOnce}, or a start in slices, {@link Omni2Start}); the
     * session owns {@code prefilled}'s cache and state from here on, the TTS LM's cache a slot of {@code ttsPool} when
     * one is free (nullable).
     */
    Omni2Session(Omni2Model model, Omni2TurnEngine.Options options, Prefilled prefilled, KvPool ttsPool) {
        this.model = model;
        this.options = options;
        this.llm = model.llm();
        this.cache = prefilled.cache();
        this.pooled = prefilled.pooled();
        this.promptKeys = prefilled.promptKeys();
        this.reusedPositions = prefilled.reused();
        this.speechEncoded = prefilled.speechEncoded();
        this.state = prefilled.state();
        this.firstLogits = prefilled.firstLogits();
        this.pendingToken = argmax(firstLogits);
        this.tts = model.tts().newStream(options.schedule(), options.sampling(), ttsPool, options.maxNewTokens());
        this.speechManager = model.manager().newSubManager();
        this.speech = model.decoder().newStream(speechManager);
        this.unitCap = Math.min(options.maxReplyUnits(), speech.maxUnits());
    }

    /**
     * A prompt prefilled into its LLM cache: the cache (a slot of the engine's pool when {@code pooled}), the whole
     * prompt's keys, the positions reused from the call's cache, the speeches encoded for it, the final-normed state
     * of its last row ([H], in no NDScope) and that row's logits (float32), which give the first token.
     */
    record Prefilled(SequenceCache cache, boolean pooled, long[] promptKeys, int reused, int speechEncoded,
            NDArray state, float[] firstLogits) {
    }

    /** The caller turns before this one as the chat prompt's past turns (audio where the request carries it). */
    static List<Omni2ChatPrompt.PastTurn> history(TurnInput input) {
        List<Omni2ChatPrompt.PastTurn> history = new ArrayList<>(input.history().size());
        for (TurnInput.PastTurn t : input.history()) {
            history.add(new Omni2ChatPrompt.PastTurn(t.userText(),
                    t.userAudio16k() == null ? null : LogMelFrontend.pcmToFloat(t.userAudio16k()), t.assistantText()));
        }
        return history;
    }

    /**
     * The one-shot start (the reference for a start in slices): the prompt planned against {@code kept}, the cache
     * placed as the constructor above says, every speech encoded and the rows after the reused prefix prefilled in one
     * forward.
     */
    static Prefilled prefillAtOnce(Omni2Model model, Omni2TurnEngine.Options options, TurnInput input,
            SequenceCache kept, KvPool pool) {
        LlamaModel llm = model.llm();
        List<Omni2ChatPrompt.PastTurn> history = history(input);
        SequenceCache c = kept != null && kept.isClosed() ? null : kept;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            // the prompt's keys, the prefix the call's cache holds, the rest embedded or encoded
            float[] audio = LogMelFrontend.pcmToFloat(input.pcm16k());
            Omni2Model.PromptPlan plan = model.plan(audio, history, c == null ? new long[0] : c.positionKeys());
            NDScope.register(plan.rows());
            // where the cache lives: the kept one, a pool slot, or one of its own
            if (pool != null) {
                long needed = plan.keys().length + options.maxNewTokens() + 1L;
                SequenceCache placed = place(c, pool, needed);
                if (c != null && placed != c) {
                    c.close(); // the plan's prefix is gone with it: plan again from nothing
                    plan = model.plan(audio, history, new long[0]);
                    NDScope.register(plan.rows());
                }
                c = placed;
            }
            boolean pooled = c instanceof KvPool.Slot s && s.pool() == pool;
            long[] promptKeys = plan.keys();
            logPrompt(input, promptKeys, plan.reused(), plan.speechEncoded());
            if (c == null) {
                c = llm.newCache(promptKeys.length + options.maxNewTokens() + 1L);
            }
            c.truncate(plan.reused());
            // the prefill of the rows after the reused prefix
            LlamaModel.Output out = llm.forward(plan.rows(), c,
                    Arrays.copyOfRange(promptKeys, plan.reused(), promptKeys.length));
            NDArray state = out.hidden().get(out.hidden().getShape().get(0) - 1);
            float[] firstLogits = out.lastLogits().toType(DataType.FLOAT32, false).toFloatArray();
            NDScope.unregister(state);
            return new Prefilled(c, pooled, promptKeys, plan.reused(), plan.speechEncoded(), state, firstLogits);
        } catch (RuntimeException e) {
            if (c != null) {
                c.close();
            }
            throw e;
        }
    }

    /** The prompt at DEBUG: positions, its speech pieces, what the call's cache gave and what was encoded. */
    static void logPrompt(TurnInput input, long[] promptKeys, int reused, int speechEncoded) {
        if (LOG.isDebugEnabled()) {
            LOG.debug("omni2 prompt of call {}: {} positions, speech {}, {} reused from the call's cache, {}"
                    + " speech(es) encoded", input.callId(), promptKeys.length, speechPieces(promptKeys), reused,
                    speechEncoded);
        }
    }

    /**
     * The prompt's speech pieces in order, each as its first row's key ({@link Omni2Model#speechKey} of its audio)
     * and its row count: {@code [-8123456789x12, -4567x9]}. For the debug log: which caller turns went in as speech.
     */
    static String speechPieces(long[] keys) {
        StringBuilder out = new StringBuilder("[");
        for (int i = 0; i < keys.length; ) {
            if (keys[i] >= 0) {
                i++;
                continue;
            }
            int rows = 1;
            while (i + rows < keys.length && keys[i + rows] == keys[i] - rows) {
                rows++;
            }
            out.append(out.length() > 1 ? ", " : "").append(keys[i]).append('x').append(rows);
            i += rows;
        }
        return out.append(']').toString();
    }

    /** One text token and what the schedule does after it, the LLM run alone over the token (the reference). */
    StepOutput step() {
        StepOutput out = emit();
        if (!out.done()) {
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                // the LLM over the token: the next logits and the state that made them
                LlamaModel.Output next = llm.forward(llm.embed(new long[] {lastToken()}), cache,
                        new long[] {lastToken()});
                accept(argmax(next.lastLogits()), next.hidden().get(0));
            }
        }
        return out;
    }

    /**
     * The first part of a step: the pending token's text, the TTS LM's write when the schedule says, the written
     * units through the speech stream; on the last token the stream is finished and the reply done. A reply that is
     * not done then needs the LLM over {@link #lastToken()} and {@link #accept} of what it gives. {@link #read} +
     * the write alone + {@link #complete}.
     */
    StepOutput emit() {
        return complete(read() ? tts.writeAlone() : null);
    }

    /**
     * Takes the pending token (a stop id or the length cap ends the text) and hands (state, token) to the TTS LM;
     * true when the schedule writes now: the write is then run ({@link TtsStream#writeAlone}, or with other sessions'
     * in {@link dev.omnicall.model.omni2.TtsLanguageModel#writeAll}) and handed to {@link #complete}.
     */
    boolean read() {
        if (done) {
            throw new IllegalStateException("the reply has ended");
        }
        long token = pendingToken;
        tokens.add(token);
        boolean stop = model.isStop(token);
        stepLast = stop || tokens.size() >= options.maxNewTokens();
        stepText = stop ? "" : textDelta();
        return tts.read(state, token, stepLast);
    }

    /** The reply's TTS stream (its write runs between {@link #read} and {@link #complete}). */
    TtsStream tts() {
        return tts;
    }

    /** The rest of the step after the TTS write ({@code write} null: none was due): units, audio, the end. */
    StepOutput complete(TtsStream.Write write) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            Written w = written(write);
            float[] pushed = w.units().length > 0 ? speech.push(w.units()) : new float[0];
            float[] finished = w.last() ? speech.finish() : new float[0];
            return deliver(w, new SpeechStream.StepAudio(pushed, finished));
        }
    }

    /** A step's units for the speech stream, and whether the stream finishes after them. */
    record Written(long[] units, boolean last) {
    }

    /**
     * The units a step's write hands to the speech stream ({@code write} null: none), cut at the speech limit, and
     * whether the reply ends with this step; the speech stream runs next (alone in {@link #complete}, or with other
     * sessions' in {@link SpeechStream#stepAll}), then {@link #deliver}.
     */
    Written written(TtsStream.Write write) {
        boolean last = stepLast;
        int[] units = write == null ? new int[0] : write.units();
        if (write != null && write.capped()) {
            cutShort = CUT_TTS_CAP;
        }
        // a reply that reaches the speech limit (the flow noise's length) ends here, text and speech
        int room = unitCap - this.units.size();
        if (units.length > room) {
            units = Arrays.copyOf(units, room);
            cutShort = CUT_FLOW_NOISE;
            last = true;
        }
        long[] batch = new long[units.length];
        for (int i = 0; i < units.length; i++) {
            batch[i] = units[i];
            this.units.add(units[i]);
        }
        if (units.length > 0 && firstUnitsUs == 0) {
            firstUnitsUs = nowUs();
        }
        return new Written(batch, last);
    }

    /** The step's audio out (the speech stream's push, then its finish), the end of the reply when it is the last. */
    StepOutput deliver(Written w, SpeechStream.StepAudio speechAudio) {
        List<StepOutput.AudioPiece> audio = new ArrayList<>(2);
        addPiece(audio, speechAudio.pushed(), w.units().length);
        releaseStep();
        if (w.last()) {
            addPiece(audio, speechAudio.finished(), 0);
            done = true;
        }
        return new StepOutput(stepText, w.units().length, audio, w.last());
    }

    /** The reply's speech stream (flow + HiFT). */
    SpeechStream speech() {
        return speech;
    }

    /** The token the last {@link #emit} took, which the LLM runs over next. */
    long lastToken() {
        return tokens.get(tokens.size() - 1);
    }

    /**
     * The LLM's next greedy token and the final-normed state ([H] or [1, H]) that predicted it; the session takes the
     * array over (out of the caller's scope).
     */
    void accept(long next, NDArray hidden) {
        NDScope.unregister(hidden);
        releaseStep();
        state = hidden;
        pendingToken = next;
    }

    /** The LLM cache: a slot of the engine's pool, or the session's own. */
    SequenceCache cache() {
        return cache;
    }

    /** True when the LLM cache is a slot of the engine's pool. */
    boolean pooled() {
        return pooled;
    }

    /**
     * Where a starting turn's LLM cache lives (SpeechGenerator's rule): the call's kept slot of this pool if the turn
     * fits it, else a free or evicted slot when the turn fits one, else the kept cache of its own, else null (a new
     * one). The caller closes a kept cache that is not returned.
     */
    static SequenceCache place(SequenceCache kept, KvPool pool, long needed) {
        boolean fits = needed <= pool.capacity();
        if (kept instanceof KvPool.Slot slot && slot.pool() == pool) {
            if (fits) {
                slot.resume();
                return slot;
            }
            kept = null;
        }
        KvPool.Slot fresh = fits ? pool.acquire() : null;
        return fresh != null ? fresh : kept;
    }

    static long argmax(NDArray logits) {
        return logits.argMax().toType(DataType.INT64, false).getLong();
    }

    /** The first maximum, as {@link NDArray#argMax()} picks it. */
    static long argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }

    private void addPiece(List<StepOutput.AudioPiece> audio, float[] samples, int unitCount) {
        if (samples.length == 0) {
            return;
        }
        if (firstAudioUs == 0) {
            firstAudioUs = nowUs();
        }
        audio.add(new StepOutput.AudioPiece(pcm16(samples), model.decoder().sampleRate(), unitCount));
    }

    /** Float samples in [-1, 1] → signed 16-bit little-endian PCM. */
    static byte[] pcm16(float[] samples) {
        byte[] out = new byte[2 * samples.length];
        for (int i = 0; i < samples.length; i++) {
            int v = Math.round(Math.max(-1f, Math.min(1f, samples[i])) * 32767f);
            out[2 * i] = (byte) v;
            out[2 * i + 1] = (byte) (v >> 8);
        }
        return out;
    }

    private String textDelta() {
        long[] ids = tokens.stream().mapToLong(Long::longValue).toArray();
        String full = model.tokenizer().decode(ids);
        if (full.endsWith("\uFFFD") || !full.startsWith(emittedText)) {
            return ""; // an incomplete UTF-8 sequence: wait for the next token
        }
        String delta = full.substring(emittedText.length());
        emittedText = full;
        return delta;
    }

    private void releaseStep() {
        if (state != null) {
            state.close();
            state = null;
        }
    }

    private static long nowUs() {
        return System.currentTimeMillis() * 1000;
    }

    /** The reply's text tokens so far (the stop id included when it came). */
    List<Long> tokens() {
        return List.copyOf(tokens);
    }

    /** The units the TTS LM wrote so far, in order. */
    List<Integer> units() {
        return List.copyOf(units);
    }

    /** True when the prompt's first positions came from the call's kept cache. */
    @Override
    public boolean reusedSnapshot() {
        return reusedPositions > 0;
    }

    /** The whole prompt's position keys (token ids; speech rows negative, {@link Omni2Model#speechKey}). */
    long[] promptKeys() {
        return promptKeys.clone();
    }

    /** Prompt positions taken from the kept cache instead of being prefilled. */
    int reusedPositions() {
        return reusedPositions;
    }

    /** Speeches run through log-mel, encoder and adaptor for this prompt (this turn's, and history not cached). */
    int speechEncoded() {
        return speechEncoded;
    }

    /** The prefill's last logits (float32), the first token's. */
    float[] firstLogits() {
        return firstLogits.clone();
    }

    @Override
    public long firstUnitsUs() {
        return firstUnitsUs;
    }

    @Override
    public long firstAudioUs() {
        return firstAudioUs;
    }

    /** {@value #CUT_TTS_CAP}, {@value #CUT_FLOW_NOISE} or null. */
    @Override
    public String cutShort() {
        return cutShort;
    }

    @Override
    public boolean done() {
        return done;
    }

    /**
     * The call's LLM cache (this prompt and the reply's tokens but the last, which was never run) for its next turn
     * on this worker; null once taken. The next turn reuses the longest prefix of its own prompt it finds there.
     */
    @Override
    public ConversationSnapshot keep() {
        if (cache == null || cache.isClosed()) {
            return null;
        }
        if (cache instanceof KvPool.Slot slot) {
            slot.park(); // the call keeps its slot until a newcomer needs it (LRU)
        }
        Omni2TurnEngine.Snapshot s = new Omni2TurnEngine.Snapshot(cache);
        cache = null;
        return s;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        releaseStep();
        tts.close();
        if (cache != null) {
            cache.close();
        }
        speechManager.close();
    }
}
