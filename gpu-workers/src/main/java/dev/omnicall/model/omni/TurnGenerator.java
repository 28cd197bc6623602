package dev.omnicall.model.omni;

import dev.omnicall.model.KvPool;
import dev.omnicall.model.SequenceCache;
import dev.omnicall.model.stream.AudioPiece;
import dev.omnicall.model.stream.CallerTranscript;
import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.List;

/**
 * One turn in flight: the handle {@link SpeechGenerator#start} returns. Each {@link #step()} takes the
 * token the LLM predicted last, emits its text, feeds the state that predicted it to the CTC decoder,
 * vocodes a chunk once Ω new units exist (paper Algorithm 1), then runs the LLM one token further.
 * Not thread-safe: drive all turns of a generator from one thread.
 */
public final class TurnGenerator implements AutoCloseable {
    private final SpeechGenerator generator;
    private final CtcUnitDecoder.Stream ctc;
    private final StreamingVocoder vocoder;
    private final List<Long> tokens = new ArrayList<>();
    private final List<Integer> unitsSoFar = new ArrayList<>();
    private SequenceCache cache;
    private long pendingToken;
    private NDArray pendingState; // [llmDim]: the LLM output that predicted pendingToken
    private int[] unvocoded = new int[0];
    private int chunkIndex;
    private String emittedText = "";
    private boolean chunkDue;
    private boolean chunkLast;
    private boolean done;
    private boolean cancelled;
    private final long inferenceStartUs;
    private final int reusedPositions;
    private long prefillDoneUs;
    private long firstUnitsUs;
    private long firstAudioUs;
    private final CallerTranscription transcription; // null when the generator does not transcribe

    TurnGenerator(SpeechGenerator generator, SequenceCache cache, long firstToken, NDArray firstState,
            long inferenceStartUs, int reusedPositions, CallerTranscription transcription) {
        this.generator = generator;
        this.transcription = transcription;
        this.cache = cache;
        this.pendingToken = firstToken;
        this.pendingState = firstState;
        this.inferenceStartUs = inferenceStartUs;
        this.reusedPositions = reusedPositions;
        this.prefillDoneUs = SpeechGenerator.nowUs();
        this.ctc = generator.newCtcStream();
        GenerationOptions o = generator.options();
        this.vocoder = new StreamingVocoder(generator.model().vocoder(), o.vocoderContextUnits(), o.crossfadeSamples());
    }

    /** Runs one step of this turn alone (no batching). */
    public StepResult step() {
        return generator.stepAll(List.of(this)).get(0);
    }

    public boolean isDone() {
        return done;
    }

    public boolean isCancelled() {
        return cancelled;
    }

    /**
     * Stops the turn: no further text or audio; the cache stays available to {@link #takeCache()} and the
     * caller's transcription to {@link #advanceCallerText} (the caller said the words even if the reply is cut).
     */
    public void cancel() {
        if (!done) {
            cancelled = true;
            done = true;
            releaseStepState();
        }
    }

    public TurnStamps stamps() {
        return new TurnStamps(inferenceStartUs, prefillDoneUs, firstUnitsUs, firstAudioUs);
    }

    /** Generated token ids so far (end-of-turn token excluded). */
    public long[] tokenIds() {
        return tokens.stream().mapToLong(Long::longValue).toArray();
    }

    /** The reply text emitted so far. */
    public String text() {
        return emittedText;
    }

    /** Every collapsed unit so far, vocoded or not. */
    public int[] units() {
        return unitsSoFar.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Prompt positions taken from a reused call cache instead of being prefilled. */
    public int reusedPositions() {
        return reusedPositions;
    }

    /**
     * Hands over the LLM cache (prompt + reply) for the call's next turn; only once the turn is done or
     * cancelled. Returns null if already taken. A pool slot stays where it is, parked: the pool may evict it
     * for a newcomer (LRU), and the call's next turn then prefills in full.
     */
    public CallCache takeCache() {
        if (!done) {
            throw new IllegalStateException("the turn is still running; cancel() it or step() it to the end first");
        }
        SequenceCache c = cache;
        cache = null;
        if (c instanceof KvPool.Slot slot && !slot.isClosed()) {
            slot.park(); // the call keeps its pool slot until a newcomer needs it
        }
        return c == null ? null : new CallCache(c);
    }

    /**
     * True while this turn's caller transcript has not been handed out (false when the generator does not
     * transcribe). A turn that stopped without its done step (cancelled by a barge-in or a hang-up) still has one
     * to give: the caller said the words even if the reply was cut; see {@link #advanceCallerText}.
     */
    public boolean hasCallerTextPending() {
        return transcription != null && !transcription.isHandedOut();
    }

    /**
     * Decodes up to {@code tokens} more caller tokens ({@code Integer.MAX_VALUE}: all that is left, up to the cap)
     * and hands the transcript out once it is finished; null while unfinished, after it was handed out, or when the
     * generator does not transcribe. Decoder errors come back as a failed transcript, never as an exception.
     */
    public CallerTranscript advanceCallerText(int tokens) {
        if (transcription == null) {
            return null;
        }
        if (tokens == Integer.MAX_VALUE) {
            transcription.finish();
        } else {
            transcription.advance(tokens);
        }
        return transcription.take();
    }

    /**
     * An upper bound on the caller-decoder tokens this turn still has to decode before its transcript is finished
     * (its cap less what ran; end-of-text may end it sooner); 0 when finished or when the generator does not
     * transcribe. A driver paces {@link #advanceCallerText} by it to finish a transcript by a deadline.
     */
    public int callerTokensLeft() {
        return transcription == null ? 0 : transcription.tokensLeft();
    }

    /** True once the vocoder returned this turn's first non-empty chunk. */
    boolean hasFirstAudio() {
        return firstAudioUs != 0;
    }

    boolean transcribes() {
        return transcription != null;
    }

    void advanceTranscription(int tokens) {
        transcription.advance(tokens);
    }

    void finishTranscription() {
        transcription.finish();
    }

    CallerTranscript takeCallerText() {
        return transcription == null ? null : transcription.take();
    }

    // ---- the parts of a step, called by SpeechGenerator.stepAll ----

    /** The state that predicted the pending token (fed to the CTC decoder this step). */
    NDArray pendingState() {
        return pendingState;
    }

    CtcUnitDecoder.Stream ctcStream() {
        return ctc;
    }

    /**
     * Before the LLM runs: text and audio for the pending token, whose state's CTC units ({@code newUnits}) the
     * generator computed for all turns of the step at once; the audio is vocoded here, one turn at a time.
     */
    StepResult emitPending(int[] newUnits) {
        StepResult r = emitPendingText(newUnits);
        return chunkDue ? r.withAudio(List.of(vocode(chunkLast))) : r;
    }

    /**
     * As {@link #emitPending}, leaving a chunk that is due ({@link #chunkDue()}) to the generator, which vocodes the
     * due chunks of all turns of the step together ({@link #dueVocoder()}, {@link #dueUnits()}, {@link #acceptChunk}).
     */
    StepResult emitPendingText(int[] newUnits) {
        long token = pendingToken;
        boolean eos = generator.model().isEos(token);
        String piece = "";
        if (!eos) {
            tokens.add(token);
            piece = textDelta();
        }
        // the state that predicted this token (EOS included) went to the CTC decoder
        for (int u : newUnits) {
            unitsSoFar.add(u);
        }
        unvocoded = concat(unvocoded, newUnits);
        done = eos || tokens.size() >= generator.options().maxNewTokens();
        // end of turn: flush everything as the last chunk; else a chunk once Ω new units are there
        chunkDue = done || unvocoded.length >= generator.options().schedule().sizeFor(chunkIndex);
        chunkLast = done;
        if (done) {
            releaseStepState();
        }
        return new StepResult(piece, token, List.of(), done, false);
    }

    /** True when the last {@link #emitPendingText} left a chunk to vocode. */
    boolean chunkDue() {
        return chunkDue;
    }

    boolean chunkLast() {
        return chunkLast;
    }

    StreamingVocoder dueVocoder() {
        return vocoder;
    }

    /** The due chunk's units; stamps the first units. */
    int[] dueUnits() {
        if (firstUnitsUs == 0 && unvocoded.length > 0) {
            firstUnitsUs = SpeechGenerator.nowUs();
        }
        return unvocoded;
    }

    /** The due chunk, vocoded: its text length and the first-audio stamp; returns the piece to emit. */
    AudioPiece acceptChunk(AudioPiece raw) {
        // the units vocoded so far come from the states that predicted every token emitted so far
        AudioPiece piece = raw.withTextChars(emittedText.length());
        unvocoded = new int[0];
        chunkIndex++;
        chunkDue = false;
        if (firstAudioUs == 0 && piece.pcm().length > 0) {
            firstAudioUs = SpeechGenerator.nowUs();
        }
        return piece;
    }

    private AudioPiece vocode(boolean last) {
        int[] units = dueUnits();
        return acceptChunk(vocoder.push(units, last));
    }

    private String textDelta() {
        String full = generator.model().tokenizer().decode(tokenIds());
        if (full.endsWith("\uFFFD") || !full.startsWith(emittedText)) {
            return ""; // an incomplete UTF-8 sequence: wait for the next token
        }
        String delta = full.substring(emittedText.length());
        emittedText = full;
        return delta;
    }

    SequenceCache cache() {
        return cache;
    }

    long pendingToken() {
        return pendingToken;
    }

    /** After the LLM ran: the next token and the state that predicted it. */
    void acceptNext(long token, NDArray state) {
        if (pendingState != null) {
            pendingState.close();
        }
        pendingToken = token;
        pendingState = state;
    }

    private void releaseStepState() {
        if (pendingState != null) {
            pendingState.close();
            pendingState = null;
        }
        ctc.close();
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Frees the turn's device memory, including its LLM cache unless it was taken. */
    @Override
    public void close() {
        if (!done) {
            cancel();
        }
        if (cache != null) {
            cache.close();
            cache = null;
        }
        if (transcription != null) {
            transcription.close();
        }
    }
}
