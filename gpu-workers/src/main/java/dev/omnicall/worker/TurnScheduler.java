package dev.omnicall.worker;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.WorkerLoad;
import dev.omnicall.kafka.Clock;
import dev.omnicall.model.stream.PrefillGapBudget;
import dev.omnicall.model.stream.TranscriptionOptions;
import dev.omnicall.worker.engine.ConversationSnapshot;
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.StepOutput;
import dev.omnicall.worker.engine.TurnEngine;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.function.LongSupplier;
import java.util.function.Predicate;

/**
 * Continuous batching of turns. Turns wait in arrival order; before every decode step one newcomer takes a
 * free batch slot (running its encoder and prefill), then one decode step advances every active turn,
 * batched into one forward when {@code batchedDecode} is on. Admitting one per step bounds how long a burst
 * of newcomers stalls the turns already speaking (one prefill per step, not eight) and how long a cancel read
 * between steps waits. Cancellation removes a turn between steps, so a cancelled turn produces at most the
 * output of the step that was already running.
 *
 * <p>Every turn's output: TextDeltas with seq 0, 1, ... and AudioChunks with seq 0, 1, ... (each topic its own
 * sequence), the last of each with {@code last=true}; a cancelled turn ends with one TextDelta
 * {@code cancelled=true, last=true} and no further audio. Each AudioChunk carries {@code textChars}, the length of
 * the attempt's reply text whose speech it completes.
 *
 * <p><b>Caller text.</b> When the engine transcribes, each turn attempt that was started gives exactly one caller
 * transcript: a {@link CallerText} record, or (decoder failed on the utterance) a dead letter; either is counted
 * ({@link WorkerMetrics#transcription}) and handed to the output before the turn is {@code finished}, so its
 * offset is committed only once the caller text is flushed. A completed turn's transcript comes with its steps
 * (normally at the latest its done step; if its reply ends while another running turn still waits for its first
 * audio, in the tail described next, after the reply's last records). A turn cancelled mid-reply (barge-in, hang-up) gets its cancelled TextDelta at
 * once, then stays in a transcribe-only tail: the caller still said the words, so its transcription goes on by
 * {@code transcribeTokensPerStep} tokens per step while turns run, {@link #IDLE_TAIL_TOKENS} per loop when none does,
 * and its CallerText is published when done. A turn cancelled before it started (no encoder output), a failed turn
 * and an abandoned one (revoked partition: the next owner redoes it) publish none.
 *
 * <p><b>The decoder yields to first audio.</b> No caller-decoder token runs, in a reply step or in the tail, while
 * any turn is queued, is being admitted (its prefill ran in this loop) or has not produced its first audio: the
 * {@link #decoderMayRun} rule, given to the engine with each step. A reply that ends decodes only its step's share
 * and leaves the rest to the tail, so no step carries a whole utterance's decoding, and the worker loop (which polls
 * Kafka between {@link #runOnce} calls) sees a newcomer within one step or one tail slice.
 *
 * <p><b>Every transcript has a delay bound</b> ({@code maxDelay}, {@code omnicall.worker.transcribe.max-delay}): the
 * rule above alone holds a transcript as long as turns keep arriving, so the next turn's history would miss the
 * caller's words. Each turn's transcript is due {@code maxDelay} after the scheduler got the turn ({@link #submit}, when
 * the worker read the request). For the first half of that time the rule above decides alone (the decoder runs only
 * in time nobody waits for). From half-way it advances whether or not the decoder is held, at the pace that finishes
 * it by the due time: each loop {@code ceil(tokensLeft × loop / timeLeft)} tokens, {@code tokensLeft} the engine's
 * upper bound ({@link EngineSession#callerTokensLeft}), {@code loop} the measured time between two {@link #runOnce}
 * calls; once the due time is less than one loop away, what is left in one call. So no step carries a whole
 * utterance's decoding unless the bound demands it, and the CallerText is handed out at most {@code maxDelay} (plus
 * the last slice) after arrival, as long as the decoding the bound forces fits in {@link #FORCED_SHARE} of each loop's
 * time: that cap keeps a worker whose transcripts demand more (an overloaded CPU, a decoder that runs to its token cap)
 * from trading first audio for text without limit; what it cuts is late, and the delay metric shows by how much.
 * One exception keeps first audio first: a turn's own transcript never runs before the
 * turn's own first audio; a turn whose first audio (or cut) comes later than half-way (an overloaded worker) is due
 * {@code maxDelay/2} after it, paced the same way, so late turns add no burst to the load that made them late. The forced tokens are counted ({@link WorkerMetrics#decoderForced}) and every transcript's
 * arrival-to-hand-out delay is recorded ({@link WorkerMetrics#transcriptDelay}).
 * Not thread-safe: the worker's loop thread drives it.
 */
public final class TurnScheduler {

    private static final Logger LOG = LoggerFactory.getLogger(TurnScheduler.class);
    /**
     * Caller-decoder tokens a tail turn advances per loop when no turn runs: large enough that an idle worker
     * finishes a transcript in a few loops, small enough that a request polled meanwhile waits at most one slice.
     */
    static final int IDLE_TAIL_TOKENS = 16;
    /**
     * The most of a worker loop that decoding forced by the delay bound may take (measured against the loop time
     * before it): a reply step is then at most {@code 1 / (1 - FORCED_SHARE)} as long as without the bound, so the
     * bound can never slow first audio by more than that, and the transcripts that demand more than this share of the
     * worker are late instead (their delay is recorded).
     */
    static final double FORCED_SHARE = 0.25;
    /** The loop time assumed before the first one is measured (µs). */
    static final long INITIAL_LOOP_US = 20_000;

    private final TurnEngine engine;
    private final ConversationCache cache;
    private final int maxBatch;
    private final boolean batchedDecode;
    private final String workerId;
    private final WorkerMetrics metrics;
    private final TurnOutput output;
    private final ArrayDeque<Turn> waiting = new ArrayDeque<>();
    private final List<Turn> active = new ArrayList<>();
    /** A newcomer whose start runs in slices, one per loop, while the active turns speak (chunked prefill); or null. */
    private Turn starting;
    private TurnEngine.StartingSession startingSession;
    /**
     * Real-time admission: a newcomer is admitted only while every speaking turn has at least this much audio out
     * ahead of its playback (µs; negative: no such rule).
     */
    private long admissionMarginUs = -1;
    private volatile boolean admissionHeld;
    /**
     * Chunked prefill's bound: at most one slice of a newcomer's start per chunk gap of every speaking turn; null runs
     * one slice per loop ({@link #setPrefillGapBound}).
     */
    private PrefillGapBudget<Turn> prefillGap = new PrefillGapBudget<>(1);
    /**
     * The margin-aware form of the bound: a speaking turn holds a slice back only while it is less than this far ahead
     * of its playback (µs, on {@link #clockUs}); Long.MAX_VALUE: always ({@link #setPrefillGapMargin}).
     */
    private long prefillGapMarginUs = Long.MAX_VALUE;
    /** Loops in which a start's slice waited for a speaking turn's next chunk. */
    private long slicesDeferred;
    /**
     * Turns with no more reply output whose caller transcription is still being finished: cancelled mid-reply, or
     * completed while another turn still waited for its first audio.
     */
    private final List<Turn> tails = new ArrayList<>();
    private final int transcribeTokensPerStep;
    private final long maxDelayUs;
    private final LongSupplier clockUs;
    /** Time between two runOnce calls while there is work (EWMA, µs): the pace of the delay bound. */
    private long loopUs = INITIAL_LOOP_US;
    private long lastLoopStartUs;
    /** Time spent this loop in decoding forced by the delay bound (µs). */
    private long forcedUsThisLoop;
    private boolean lastLoopHadWork;
    // Copies of the two sizes for other threads (status pages); the loop thread reads the collections.
    private volatile int publishedWaiting;
    private volatile int publishedActive;

    public TurnScheduler(TurnEngine engine, ConversationCache cache, int maxBatch, boolean batchedDecode,
                         String workerId, WorkerMetrics metrics, TurnOutput output) {
        this(engine, cache, maxBatch, batchedDecode, workerId, metrics, output, 2);
    }

    /** @param transcribeTokensPerStep caller-decoder tokens per step for a cancelled turn's unfinished transcript */
    public TurnScheduler(TurnEngine engine, ConversationCache cache, int maxBatch, boolean batchedDecode,
                         String workerId, WorkerMetrics metrics, TurnOutput output, int transcribeTokensPerStep) {
        this(engine, cache, maxBatch, batchedDecode, workerId, metrics, output, transcribeTokensPerStep,
                TranscriptionOptions.DEFAULT_MAX_DELAY);
    }

    /**
     * @param maxDelay each caller transcript's delay bound, from {@link #submit} to its hand-out (see the class
     *                 comment); {@code omnicall.worker.transcribe.max-delay}
     */
    public TurnScheduler(TurnEngine engine, ConversationCache cache, int maxBatch, boolean batchedDecode, String workerId,
                         WorkerMetrics metrics, TurnOutput output, int transcribeTokensPerStep, Duration maxDelay) {
        this(engine, cache, maxBatch, batchedDecode, workerId, metrics, output, transcribeTokensPerStep, maxDelay,
                Clock::nowMicros);
    }

    /** @param clockUs the clock of the delay bound (epoch µs); tests drive it */
    TurnScheduler(TurnEngine engine, ConversationCache cache, int maxBatch, boolean batchedDecode, String workerId,
                  WorkerMetrics metrics, TurnOutput output, int transcribeTokensPerStep, Duration maxDelay,
                  LongSupplier clockUs) {
        if (maxDelay == null || maxDelay.isNegative() || maxDelay.isZero()) {
            throw new IllegalArgumentException("transcript max delay must be > 0, got " + maxDelay);
        }
        this.maxDelayUs = maxDelay.toNanos() / 1000;
        this.clockUs = clockUs;
        if (transcribeTokensPerStep < 1) {
            throw new IllegalArgumentException("transcribe tokens per step must be >= 1, got " + transcribeTokensPerStep);
        }
        this.transcribeTokensPerStep = transcribeTokensPerStep;
        if (maxBatch < 1) {
            throw new IllegalArgumentException("max batch must be >= 1, got " + maxBatch);
        }
        this.engine = engine;
        this.cache = cache;
        this.maxBatch = maxBatch;
        this.batchedDecode = batchedDecode;
        this.workerId = workerId;
        this.metrics = metrics;
        this.output = output;
    }

    /** Queues a turn; it joins the batch before a later decode step. */
    public void submit(Turn turn) {
        turn.arrivalUs = clockUs.getAsLong();
        waiting.addLast(turn);
        publishGauges();
    }

    /** True while any turn waits, starts, runs or finishes its caller transcript. */
    public boolean hasWork() {
        return !waiting.isEmpty() || starting != null || !active.isEmpty() || !tails.isEmpty();
    }

    /**
     * Real-time admission ({@code omnicall.worker.admission-margin-ms}): a newcomer joins only while every turn that
     * is speaking has produced at least {@code margin} of audio ahead of its playback (playback taken to start when
     * its first chunk was handed to the producer and to run in real time); otherwise the newcomers wait, and
     * {@link #admissionHeld()} tells the worker to pause its turn requests. Null or negative: no such rule.
     */
    public void setAdmissionMargin(Duration margin) {
        this.admissionMarginUs = margin == null || margin.isNegative() ? -1 : margin.toNanos() / 1000;
    }

    /**
     * Chunked prefill's bound (issue 14 item 3; on by default): a newcomer's start runs at most one slice (its first,
     * the encoder and prompt, counts) per chunk gap of every speaking turn, so no speaking turn's gap between two
     * audio chunks holds more than one slice, each sized to cost at most half a step ({@code PrefillPacer}). Off: one
     * slice per loop (a gap of k steps can hold k slices), a newcomer's first audio sooner.
     */
    public void setPrefillGapBound(boolean on) {
        this.prefillGap = on ? new PrefillGapBudget<>(1) : null;
        this.prefillGapMarginUs = Long.MAX_VALUE;
    }

    /**
     * The margin-aware chunked-prefill bound (issue 14 items 3 and 5; {@code omnicall.worker.prefill-gap-margin-ms}):
     * on, but a speaking turn holds a newcomer's slice back only while its audio out is less than {@code margin} ahead
     * of its playback (playback taken to start at its first audio chunk and to run in real time). A turn comfortably
     * ahead does not hear a gap that grows by a few slices, so the newcomer's start then runs a slice every loop, as
     * with the bound off; a turn running short gets at most one slice per chunk gap, as with it on. Null: the plain
     * bound, every speaking turn held to it ({@link #setPrefillGapBound}{@code (true)}).
     */
    public void setPrefillGapMargin(Duration margin) {
        this.prefillGap = new PrefillGapBudget<>(1);
        this.prefillGapMarginUs = margin == null ? Long.MAX_VALUE : margin.toNanos() / 1000;
    }

    /** Loops so far in which a newcomer's next slice waited for a speaking turn's next audio chunk. */
    public long prefillSlicesDeferred() {
        return slicesDeferred;
    }

    /** True while newcomers wait because a speaking turn is less than the margin ahead of playback; any thread. */
    public boolean admissionHeld() {
        return admissionHeld;
    }

    /**
     * The least audio ahead of playback over the speaking turns (µs; may be negative: that turn's caller hears a
     * gap), or Long.MAX_VALUE when none speaks.
     */
    long playbackMarginUs(long nowUs) {
        return leastMarginUs(active, null, nowUs);
    }

    /**
     * The least audio ahead of playback over {@code turns} but {@code except} (µs), or Long.MAX_VALUE when none of
     * them has sent audio: playback is taken to start with a turn's first chunk and to run in real time.
     */
    static long leastMarginUs(Collection<Turn> turns, Turn except, long nowUs) {
        long least = Long.MAX_VALUE;
        for (Turn t : turns) {
            Long first = t.timings.getFirstChunkProducedUs();
            if (t == except || first == null) {
                continue;
            }
            least = Math.min(least, t.audioUs - (nowUs - first));
        }
        return least;
    }

    /**
     * This worker's load as stamped on a TextDelta of {@code t}: running and waiting turns, the playback margin and
     * whether admission holds newcomers back. The last delta of an attempt leaves {@code t} out (it ends with that
     * delta), so a worker's last delta before it goes idle says 0 running turns and no margin. Costs one pass over
     * the batch per delta.
     */
    WorkerLoad load(Turn t, boolean last, long nowUs) {
        Turn ending = last ? t : null;
        int running = active.size() + (starting == null ? 0 : 1) - (ending != null && active.contains(ending) ? 1 : 0);
        long least = leastMarginUs(active, ending, nowUs);
        boolean holding = admissionHeld && (ending == null || least < admissionMarginUs);
        return WorkerLoad.newBuilder()
                .setStampedUs(nowUs)
                .setRunningTurns(running)
                .setWaitingTurns(waiting.size())
                .setLeastMarginUs(least == Long.MAX_VALUE ? null : least)
                .setAdmissionHolding(holding)
                .setAdmissionMarginUs(admissionMarginUs < 0 ? null : admissionMarginUs)
                .build();
    }

    /** Turns with no more reply output still finishing their caller transcript. */
    public int transcribing() {
        return tails.size();
    }

    public int waiting() {
        return waiting.size();
    }

    public int active() {
        return active.size();
    }

    /** Cancels turn {@code turnId} of the call (BargeIn); returns whether a turn was found. */
    public boolean cancel(String callId, int turnId, String reason) {
        return cancelWhere(t -> t.callId().equals(callId) && t.turnId() == turnId, reason) > 0;
    }

    /** Cancels every turn of the call (CallEnded) and drops its kept KV cache. */
    public int cancelCall(String callId, String reason) {
        int n = cancelWhere(t -> t.callId().equals(callId), reason);
        cache.drop(callId);
        return n;
    }

    /**
     * Stops, without output, every turn read from {@code partitions}: this worker no longer owns them, and
     * the new owner runs them again from the committed offset as a new attempt.
     */
    public int abandon(Collection<TopicPartition> partitions) {
        Set<TopicPartition> gone = Set.copyOf(partitions);
        int n = 0;
        for (Iterator<Turn> it = waiting.iterator(); it.hasNext(); ) {
            Turn t = it.next();
            if (gone.contains(t.partition())) {
                it.remove();
                n++;
            }
        }
        if (starting != null && gone.contains(starting.partition())) {
            startingSession.close();
            starting = null;
            startingSession = null;
            n++;
        }
        for (List<Turn> running : List.of(active, tails)) {
            for (Iterator<Turn> it = running.iterator(); it.hasNext(); ) {
                Turn t = it.next();
                if (gone.contains(t.partition())) {
                    it.remove();
                    t.session.close();
                    n++;
                }
            }
        }
        publishGauges();
        return n;
    }

    /**
     * Admits at most one waiting turn into a free batch slot, runs one decode step over the batch, then advances
     * the caller transcripts of cancelled turns.
     */
    public void runOnce() {
        long start = clockUs.getAsLong();
        if (lastLoopHadWork && lastLoopStartUs > 0) {
            long interval = Math.max(0, Math.min(start - lastLoopStartUs, maxDelayUs));
            loopUs = (7 * loopUs + 3 * interval) / 10;
        }
        lastLoopStartUs = start;
        forcedUsThisLoop = 0;
        admit();
        boolean mayRun = decoderMayRun();
        step(mayRun);
        keepActiveTranscriptsInBound(mayRun);
        advanceTails();
        publishGauges();
        long margin = playbackMarginUs(Clock.nowMicros());
        metrics.playbackMargin(margin == Long.MAX_VALUE ? WorkerMetrics.NO_PLAYBACK_MARGIN : margin);
        lastLoopHadWork = hasWork();
    }

    /**
     * Caller-decoder tokens the delay bound asks of a turn's transcript in this loop: none before the turn's own
     * first audio (or its tail), none in the first half of {@code maxDelay} after its arrival; then the pace that
     * finishes it by its due time (arrival + maxDelay, or maxDelay/2 after its first audio when that came later than
     * half-way) ({@code ceil(tokensLeft × loop / timeLeft)}, at least 1); all that is left ({@code Integer.MAX_VALUE})
     * once the due time is less than one loop away or the engine cannot tell how much is left.
     */
    int boundQuota(Turn t, long nowUs) {
        if (t.callerTextPublished || t.eligibleUs == 0) {
            return 0;
        }
        // due maxDelay after arrival, but never less than half of it after the transcript may run at all (its own
        // first audio or its tail): an overloaded worker paces a late turn's transcript instead of bursting it
        long due = Math.max(t.arrivalUs + maxDelayUs, t.eligibleUs + maxDelayUs / 2);
        long timeLeft = due - nowUs;
        if (timeLeft > maxDelayUs / 2) {
            return 0;
        }
        int tokens = t.session.callerTokensLeft();
        if (tokens <= 0) {
            return 0;
        }
        if (tokens == Integer.MAX_VALUE || timeLeft <= loopUs) {
            return Integer.MAX_VALUE;
        }
        long paced = (tokens * loopUs + timeLeft - 1) / timeLeft;
        return (int) Math.max(1, Math.min(tokens, paced));
    }

    /**
     * The delay bound for running turns: after the step, a turn past half its bound advances the tokens
     * {@link #boundQuota} asks beyond what the step already gave it ({@code transcribeTokensPerStep} when the decoder
     * ran), and its CallerText goes out as soon as it is finished, with the reply still running.
     */
    private void keepActiveTranscriptsInBound(boolean decoderRan) {
        if (active.isEmpty()) {
            return;
        }
        long now = clockUs.getAsLong();
        for (Turn t : List.copyOf(active)) {
            int quota = boundQuota(t, now);
            if (quota == 0) {
                continue;
            }
            if (decoderRan && quota != Integer.MAX_VALUE) {
                quota -= transcribeTokensPerStep;
                if (quota <= 0) {
                    continue;
                }
            }
            StepOutput.CallerText text = forced(t, quota);
            if (text != null) {
                publishCallerText(t, text);
            }
        }
    }

    /**
     * Advances a transcript by up to {@code tokens} for its delay bound, in slices of {@code transcribeTokensPerStep},
     * while this loop's forced-decoding budget ({@link #FORCED_SHARE} of the loop time) lasts; counts the tokens that
     * ran. What the budget leaves undone waits for the next loop (the transcript is then late, and its delay shows it).
     */
    private StepOutput.CallerText forced(Turn t, int tokens) {
        int left = tokens;
        StepOutput.CallerText text = null;
        while (left > 0 && text == null && forcedUsThisLoop < forcedBudgetUs()) {
            int slice = Math.min(left, transcribeTokensPerStep);
            int before = t.session.callerTokensLeft();
            long t0 = clockUs.getAsLong();
            text = advance(t, slice);
            forcedUsThisLoop += Math.max(0, clockUs.getAsLong() - t0);
            left -= slice;
            if (before != Integer.MAX_VALUE) {
                int after = text != null ? 0 : t.session.callerTokensLeft();
                metrics.decoderForced(Math.max(0, Math.min(slice, before - after)));
            }
            if (text == null && !t.session.callerTextPending()) {
                break;
            }
        }
        return text;
    }

    /** Advances a transcript by {@code tokens}; a decoder that throws gives a failed transcript. */
    private static StepOutput.CallerText advance(Turn t, int tokens) {
        try {
            return t.session.advanceCallerText(tokens);
        } catch (RuntimeException e) {
            long failedAt = Clock.nowMicros();
            return new StepOutput.CallerText("", "", 0, false, failedAt, failedAt, 0, e);
        }
    }

    /** This loop's budget for decoding forced by the delay bound: {@link #FORCED_SHARE} of the measured loop time. */
    private long forcedBudgetUs() {
        return Math.max(1, (long) (FORCED_SHARE * loopUs));
    }

    /**
     * Whether caller-decoder work may run now: no turn waits for a slot, and every running turn (the one admitted
     * in this loop included) has its first audio out. Transcription then never delays anyone's first audio.
     */
    boolean decoderMayRun() {
        return waiting.isEmpty() && starting == null && active.stream().allMatch(t -> t.timings.getFirstAudioUs() != null);
    }

    private void step(boolean decoderMayRun) {
        if (active.isEmpty()) {
            return;
        }
        List<Turn> batch = List.copyOf(active);
        if (!decoderMayRun) {
            metrics.decoderHeld();
        }
        List<StepOutput> outs;
        try {
            outs = decode(batch, decoderMayRun);
        } catch (RuntimeException e) {
            LOG.error("decode step over {} turns failed; failing them all", batch.size(), e);
            for (Turn t : batch) {
                fail(t, e);
            }
            return;
        }
        long now = Clock.nowMicros();
        metrics.decodeStep(batch.size());
        metrics.tokens(batch.size());
        for (int i = 0; i < batch.size(); i++) {
            Turn t = batch.get(i);
            StepOutput out = outs.get(i);
            t.tokens++;
            // The engine's own stamps are finer (taken inside the step); the step's end is the fallback.
            if (out.newUnits() > 0 && t.timings.getFirstUnitsUs() == null) {
                t.timings.setFirstUnitsUs(t.session.firstUnitsUs() > 0 ? t.session.firstUnitsUs() : now);
            }
            if (!out.audio().isEmpty() && t.timings.getFirstAudioUs() == null) {
                t.timings.setFirstAudioUs(t.session.firstAudioUs() > 0 ? t.session.firstAudioUs() : now);
                t.eligibleUs = clockUs.getAsLong();
            }
            if (prefillGap != null && hasAudio(out)) {
                prefillGap.chunk(t);
            }
            emit(t, out);
            if (out.done()) {
                complete(t);
            }
        }
    }

    private static boolean hasAudio(StepOutput out) {
        for (StepOutput.AudioPiece p : out.audio()) {
            if (p.pcm().length > 0) {
                return true;
            }
        }
        return false;
    }

    /**
     * Tail turns finish their caller transcript without delaying anyone's first audio: nothing while a turn is
     * queued or a running turn has no audio out yet ({@link #decoderMayRun}), unless the delay bound asks for tokens
     * ({@link #boundQuota}); {@code transcribeTokensPerStep} tokens per step while turns run,
     * {@link #IDLE_TAIL_TOKENS} per loop when none does (or more, when the bound asks for more).
     */
    private void advanceTails() {
        if (tails.isEmpty()) {
            return;
        }
        boolean mayRun = decoderMayRun();
        boolean idle = active.isEmpty() && waiting.isEmpty();
        long now = clockUs.getAsLong();
        for (Iterator<Turn> it = tails.iterator(); it.hasNext(); ) {
            Turn t = it.next();
            int share = !mayRun ? 0 : idle ? Math.max(IDLE_TAIL_TOKENS, transcribeTokensPerStep) : transcribeTokensPerStep;
            int quota = boundQuota(t, now);
            StepOutput.CallerText text;
            if (idle) {
                // nobody waits: no cap; still by slices (a request read meanwhile waits one slice at most), larger
                // ones only when the bound's pace asks for more
                text = advance(t, quota == Integer.MAX_VALUE ? share : Math.max(share, quota));
            } else if (quota > share) {
                text = forced(t, quota);
            } else if (share > 0) {
                text = advance(t, share);
            } else {
                continue;
            }
            if (text != null || !t.session.callerTextPending()) {
                it.remove();
                if (text != null) {
                    publishCallerText(t, text);
                }
                t.session.close();
                output.finished(t, t.tailOutcome, null);
            }
        }
    }

    private List<StepOutput> decode(List<Turn> batch, boolean decoderMayRun) {
        List<EngineSession> sessions = new ArrayList<>(batch.size());
        batch.forEach(t -> sessions.add(t.session));
        if (batchedDecode) {
            return checked(engine.step(sessions, decoderMayRun), sessions.size());
        }
        List<StepOutput> outs = new ArrayList<>(sessions.size());
        for (EngineSession s : sessions) {
            outs.add(checked(engine.step(List.of(s), decoderMayRun), 1).get(0));
        }
        return outs;
    }

    private static List<StepOutput> checked(List<StepOutput> outs, int expected) {
        if (outs.size() != expected) {
            throw new IllegalStateException("engine returned " + outs.size() + " step outputs for " + expected + " sessions");
        }
        return outs;
    }

    private void admit() {
        // at most one slice per loop, and per chunk gap of each speaking turn (the bound above)
        List<Turn> speaking = speaking();
        if (starting != null) {
            if (gapFull(speaking)) {
                publishGauges();
                return;
            }
            advanceStart();   // one slice of the newcomer's start
            sliceRan(speaking);
            publishGauges();
            return;
        }
        boolean held = admissionMarginUs >= 0 && !waiting.isEmpty() && active.size() < maxBatch
                && playbackMarginUs(Clock.nowMicros()) < admissionMarginUs;
        admissionHeld = held;
        if (held) {
            metrics.admissionHeld();
            publishGauges();
            return;
        }
        if (active.size() < maxBatch && !waiting.isEmpty() && gapFull(speaking)) {
            publishGauges();
            return;
        }
        // One newcomer per step; a turn whose start fails does not use up the step's admission.
        boolean admitted = false;
        while (!admitted && active.size() < maxBatch && !waiting.isEmpty()) {
            Turn t = waiting.pollFirst();
            t.timings.setInferenceStartUs(Clock.nowMicros());
            ConversationSnapshot kept = cache.take(t.callId());
            TurnEngine.StartingSession s = null;
            try {
                // its first slice (an engine that does not slice: the whole start)
                s = engine.begin(t.input(), kept);
                // with no turn speaking nobody waits for the slices: the whole start now
                if (!s.ready() && active.isEmpty()) {
                    s.finish();
                }
            } catch (RuntimeException e) {
                startFailed(t, s, e);
                continue;
            }
            admitted = true;
            sliceRan(speaking);
            if (s.ready()) {
                started(t, s);
            } else {
                starting = t;
                startingSession = s;
            }
        }
        publishGauges();
    }

    /** Active turns that have handed out audio: those whose chunk gaps the prefill bound protects. */
    private List<Turn> speaking() {
        List<Turn> speaking = new ArrayList<>(active.size());
        for (Turn t : active) {
            if (t.timings.getFirstAudioUs() != null) {
                speaking.add(t);
            }
        }
        return speaking;
    }

    /** True (and counted) when a slice now would be a second one in a speaking turn's current chunk gap. */
    private boolean gapFull(List<Turn> speaking) {
        long now = clockUs.getAsLong();
        if (prefillGap == null || prefillGap.mayRun(speaking, t -> gapMarginUs(t, now), prefillGapMarginUs)) {
            return false;
        }
        slicesDeferred++;
        return true;
    }

    /**
     * The turn's audio ahead of its playback for the gap bound (µs), on {@link #clockUs}: playback taken to start when
     * its first audio went out ({@link Turn#playbackStartUs}) and to run in real time; all of it before that.
     */
    static long gapMarginUs(Turn t, long nowUs) {
        return t.playbackStartUs == 0 ? t.audioUs : t.audioUs - (nowUs - t.playbackStartUs);
    }

    private void sliceRan(List<Turn> speaking) {
        if (prefillGap != null) {
            prefillGap.sliceRan(speaking);
        }
    }

    /** The next slice of the starting turn's prefill; it joins the batch once complete. */
    private void advanceStart() {
        Turn t = starting;
        TurnEngine.StartingSession s = startingSession;
        try {
            if (active.isEmpty()) {
                s.finish();   // the speaking turns ended meanwhile: nobody waits for the rest
            } else {
                s.advance();
            }
        } catch (RuntimeException e) {
            starting = null;
            startingSession = null;
            startFailed(t, s, e);
            return;
        }
        if (s.ready()) {
            starting = null;
            startingSession = null;
            started(t, s);
        }
    }

    private void started(Turn t, TurnEngine.StartingSession s) {
        t.session = s.session();
        t.timings.setPrefillDoneUs(Clock.nowMicros());
        active.add(t);
    }

    private void startFailed(Turn t, TurnEngine.StartingSession s, RuntimeException e) {
        LOG.warn("{}: start failed: {}", t, e.toString());
        if (s != null) {
            s.close();
        }
        output.text(t, textDelta(t, "", true, true));
        output.finished(t, TurnOutput.Outcome.FAILED, e);
    }

    private void publishCallerText(Turn t, StepOutput.CallerText text) {
        if (t.callerTextPublished) {
            LOG.warn("{}: the engine handed out a second caller transcript; ignored", t);
            return;
        }
        t.callerTextPublished = true;
        metrics.transcription(!text.failed(), text.decodeCpuUs());
        metrics.transcriptDelay(clockUs.getAsLong() - t.arrivalUs);
        if (text.failed()) {
            LOG.warn("{}: caller transcription failed (the reply is unaffected): {}", t, text.error().toString());
            output.transcriptionFailed(t, text.error());
        } else {
            output.callerText(t, callerText(t, text));
        }
    }

    private void emit(Turn t, StepOutput out) {
        if (!out.text().isEmpty() || out.done()) {
            output.text(t, textDelta(t, out.text(), out.done(), false));
        }
        List<StepOutput.AudioPiece> pieces = out.audio();
        for (int i = 0; i < pieces.size(); i++) {
            boolean last = out.done() && i == pieces.size() - 1;
            StepOutput.AudioPiece p = pieces.get(i);
            t.audioUs += p.pcm().length / 2 * 1_000_000L / Math.max(1, p.sampleRate());
            if (t.playbackStartUs == 0 && p.pcm().length > 0) {
                t.playbackStartUs = clockUs.getAsLong();
            }
            output.audio(t, audioChunk(t, p, last));
        }
        if (out.done() && pieces.isEmpty()) {
            // The flush produced no samples: close the audio sequence with an empty last chunk (it covers all the text).
            output.audio(t, audioChunk(t, new StepOutput.AudioPiece(new byte[0], TurnRequests.SAMPLE_RATE, 0,
                    t.textChars), true));
        }
        if (out.callerText() != null) {
            publishCallerText(t, out.callerText());
        }
    }

    private void complete(Turn t) {
        active.remove(t);
        ConversationSnapshot keep = null;
        try {
            keep = t.session.keep();
        } catch (RuntimeException e) {
            LOG.warn("{}: keeping the KV cache failed, the next turn prefills cold: {}", t, e.toString());
        }
        if (keep != null) {
            cache.put(t.callId(), t.partition() == null ? -1 : t.partition().partition(), keep);
        }
        Long start = t.timings.getInferenceStartUs();
        Long first = t.timings.getFirstChunkProducedUs();
        metrics.turnCompleted(start != null && first != null ? first - start : -1);
        if (t.session.cutShort() != null) {
            metrics.replyCut(t.session.cutShort());
        }
        if (!t.callerTextPublished && t.session.callerTextPending()) {
            // the reply ended with its caller text unfinished (the decoder yields to first audio, and decodes only
            // a step's share at the end): the rest follows in the tail
            t.tailOutcome = TurnOutput.Outcome.COMPLETED;
            if (t.eligibleUs == 0) {
                t.eligibleUs = clockUs.getAsLong();
            }
            tails.add(t);
            return;
        }
        t.session.close();
        output.finished(t, TurnOutput.Outcome.COMPLETED, null);
    }

    private void fail(Turn t, Throwable error) {
        active.remove(t);
        t.session.close();
        output.text(t, textDelta(t, "", true, true));
        output.finished(t, TurnOutput.Outcome.FAILED, error);
        publishGauges();
    }

    private int cancelWhere(Predicate<Turn> match, String reason) {
        List<Turn> cancelled = new ArrayList<>();
        List<Turn> toTail = new ArrayList<>();
        for (Iterator<Turn> it = active.iterator(); it.hasNext(); ) {
            Turn t = it.next();
            if (match.test(t)) {
                it.remove();
                cancelled.add(t);
                if (!t.callerTextPublished && t.session.callerTextPending()) {
                    toTail.add(t);   // the reply stops now; the caller's words are still transcribed
                } else {
                    t.session.close();
                }
            }
        }
        for (Iterator<Turn> it = waiting.iterator(); it.hasNext(); ) {
            Turn t = it.next();
            if (match.test(t)) {
                it.remove();
                cancelled.add(t);
            }
        }
        if (starting != null && match.test(starting)) {
            // cancelled while its prefill runs in slices: as a queued turn, no reply and no caller text
            startingSession.close();
            cancelled.add(starting);
            starting = null;
            startingSession = null;
        }
        for (Turn t : cancelled) {
            t.cancelReason = reason;
            metrics.cancellation(reason);
            output.text(t, textDelta(t, "", true, true));
            if (toTail.contains(t)) {
                t.tailOutcome = TurnOutput.Outcome.CANCELLED;
                if (t.eligibleUs == 0) {
                    t.eligibleUs = clockUs.getAsLong();
                }
                tails.add(t);   // finished once its caller text is out
            } else {
                output.finished(t, TurnOutput.Outcome.CANCELLED, null);
            }
        }
        if (!cancelled.isEmpty()) {
            publishGauges();
        }
        return cancelled.size();
    }

    /**
     * Ends a turn that never ran (its call was already cancelled when it arrived): one cancelled last
     * TextDelta, then finished.
     */
    public void rejectCancelled(Turn t, String reason) {
        t.cancelReason = reason;
        metrics.cancellation(reason);
        output.text(t, textDelta(t, "", true, true));
        output.finished(t, TurnOutput.Outcome.CANCELLED, null);
    }

    TextDelta textDelta(Turn t, String text, boolean last, boolean cancelled) {
        t.textChars += text.length();
        return TextDelta.newBuilder()
                .setCallId(t.callId())
                .setTurnId(t.turnId())
                .setAttempt(t.attempt())
                .setSeq(t.textSeq++)
                .setText(text)
                .setLast(last)
                .setCancelled(cancelled)
                .setWorkerId(workerId)
                .setTimings(t.timings.build())
                .setWorkerLoad(load(t, last, Clock.nowMicros()))
                .build();
    }

    AudioChunk audioChunk(Turn t, StepOutput.AudioPiece piece, boolean last) {
        if (t.timings.getFirstChunkProducedUs() == null) {
            t.timings.setFirstChunkProducedUs(Clock.nowMicros());
        }
        return AudioChunk.newBuilder()
                .setCallId(t.callId())
                .setTurnId(t.turnId())
                .setAttempt(t.attempt())
                .setSeq(t.audioSeq++)
                .setSampleRate(piece.sampleRate())
                .setPcm(ByteBuffer.wrap(piece.pcm()))
                .setUnitCount(piece.unitCount())
                .setLast(last)
                .setTextChars(piece.textChars() < 0 ? -1 : Math.min(piece.textChars(), t.textChars))
                .setWorkerId(workerId)
                .setTimings(t.timings.build())
                .build();
    }

    CallerText callerText(Turn t, StepOutput.CallerText text) {
        return CallerText.newBuilder()
                .setCallId(t.callId())
                .setTurnId(t.turnId())
                .setAttempt(t.attempt())
                .setText(text.text())
                .setLanguage(text.language())
                .setTokenCount(text.tokenCount())
                .setTruncated(text.truncated())
                .setAudioMs((int) (t.input().pcm16k().length * 1000L / TurnRequests.SAMPLE_RATE))
                .setDecodeStartUs(text.decodeStartUs())
                .setDecodeDoneUs(text.decodeDoneUs())
                .setDecodeCpuUs(text.decodeCpuUs())
                .setWorkerId(workerId)
                .setTimings(t.timings.build())
                .build();
    }

    /** Waiting turns as last published, safe to read from any thread. */
    public int publishedWaiting() {
        return publishedWaiting;
    }

    /** Active turns as last published, safe to read from any thread. */
    public int publishedActive() {
        return publishedActive;
    }

    private void publishGauges() {
        publishedWaiting = waiting.size();
        publishedActive = active.size() + (starting == null ? 0 : 1);
        metrics.queueDepth(publishedWaiting);
        metrics.activeTurns(publishedActive);
    }

    /** Closes every session and empties the queue (worker shutdown); no output. */
    public void close() {
        if (starting != null) {
            startingSession.close();
            starting = null;
            startingSession = null;
        }
        active.forEach(t -> t.session.close());
        active.clear();
        tails.forEach(t -> t.session.close());
        tails.clear();
        waiting.clear();
        publishGauges();
    }
}
