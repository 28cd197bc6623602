package dev.omnicall.worker;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/** Plain counters, readable from any thread: for tests, the benchmark and {@link WorkerMain}'s log line. */
public final class CountingWorkerMetrics implements WorkerMetrics {

    private final AtomicInteger queueDepth = new AtomicInteger();
    private final AtomicInteger activeTurns = new AtomicInteger();
    private final AtomicInteger maxBatch = new AtomicInteger();
    private final AtomicLong steps = new AtomicLong();
    private final AtomicLong tokens = new AtomicLong();
    private final AtomicLong turnsCompleted = new AtomicLong();
    private final AtomicLong kvHits = new AtomicLong();
    private final AtomicLong kvMisses = new AtomicLong();
    private final AtomicLong transcriptionsOk = new AtomicLong();
    private final AtomicLong transcriptionsFailed = new AtomicLong();
    private final AtomicLong transcriptionCpuMicros = new AtomicLong();
    private final AtomicLong decoderHeldSteps = new AtomicLong();
    private final AtomicLong admissionHeld = new AtomicLong();
    private final AtomicLong playbackMarginUs = new AtomicLong(NO_PLAYBACK_MARGIN);
    private final AtomicLong leastPlaybackMarginUs = new AtomicLong(Long.MAX_VALUE);
    private final AtomicLong decoderForcedTokens = new AtomicLong();
    private final List<Long> transcriptDelays = new CopyOnWriteArrayList<>();
    private final Map<String, AtomicLong> deadLetters = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> cancellations = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> repliesCut = new ConcurrentHashMap<>();

    @Override
    public void queueDepth(int waiting) {
        queueDepth.set(waiting);
    }

    @Override
    public void activeTurns(int active) {
        activeTurns.set(active);
    }

    @Override
    public void decodeStep(int batchSize) {
        steps.incrementAndGet();
        maxBatch.accumulateAndGet(batchSize, Math::max);
    }

    @Override
    public void tokens(int count) {
        tokens.addAndGet(count);
    }

    @Override
    public void deadLetter(String reason) {
        deadLetters.computeIfAbsent(reason, k -> new AtomicLong()).incrementAndGet();
    }

    @Override
    public void cancellation(String reason) {
        cancellations.computeIfAbsent(reason, k -> new AtomicLong()).incrementAndGet();
    }

    @Override
    public void replyCut(String reason) {
        repliesCut.computeIfAbsent(reason, k -> new AtomicLong()).incrementAndGet();
    }

    /** Replies whose speech an engine limit ended, for {@code reason}. */
    public long repliesCut(String reason) {
        AtomicLong n = repliesCut.get(reason);
        return n == null ? 0 : n.get();
    }

    @Override
    public void turnCompleted(long firstAudioMicros) {
        turnsCompleted.incrementAndGet();
    }

    @Override
    public void kvCache(boolean hit) {
        (hit ? kvHits : kvMisses).incrementAndGet();
    }

    @Override
    public void transcription(boolean ok, long decodeCpuMicros) {
        (ok ? transcriptionsOk : transcriptionsFailed).incrementAndGet();
        transcriptionCpuMicros.addAndGet(Math.max(0, decodeCpuMicros));
    }

    @Override
    public void decoderHeld() {
        decoderHeldSteps.incrementAndGet();
    }

    @Override
    public void transcriptDelay(long delayMicros) {
        transcriptDelays.add(delayMicros);
    }

    @Override
    public void decoderForced(int tokens) {
        decoderForcedTokens.addAndGet(tokens);
    }

    /** Each transcript's delay from the request read to its hand-out, in order (µs). */
    public List<Long> transcriptDelays() {
        return List.copyOf(transcriptDelays);
    }

    /** Caller-decoder tokens run for the delay bound. */
    public long decoderForcedTokens() {
        return decoderForcedTokens.get();
    }

    /** Decode steps that ran with the caller decoder held for someone's first audio. */
    @Override
    public void admissionHeld() {
        admissionHeld.incrementAndGet();
    }

    @Override
    public void playbackMargin(long micros) {
        playbackMarginUs.set(micros);
        leastPlaybackMarginUs.accumulateAndGet(micros, Math::min);
    }

    /** Loops that held waiting turns back for the playback margin. */
    public long admissionHeldLoops() {
        return admissionHeld.get();
    }

    /** The last playback margin reported (µs), Long.MIN_VALUE before any. */
    public long playbackMarginUs() {
        return playbackMarginUs.get();
    }

    /** The least playback margin reported (µs), Long.MAX_VALUE before any. */
    public long leastPlaybackMarginUs() {
        return leastPlaybackMarginUs.get();
    }

    public long decoderHeldSteps() {
        return decoderHeldSteps.get();
    }

    public long transcriptions(boolean ok) {
        return (ok ? transcriptionsOk : transcriptionsFailed).get();
    }

    /** Time inside the caller decoder, all utterances together. */
    public long transcriptionCpuMicros() {
        return transcriptionCpuMicros.get();
    }

    public int queueDepth() {
        return queueDepth.get();
    }

    public int activeTurns() {
        return activeTurns.get();
    }

    /** The largest batch any decode step ran. */
    public int maxBatchSeen() {
        return maxBatch.get();
    }

    public long steps() {
        return steps.get();
    }

    public long tokens() {
        return tokens.get();
    }

    public long turnsCompleted() {
        return turnsCompleted.get();
    }

    public long kvHits() {
        return kvHits.get();
    }

    public long kvMisses() {
        return kvMisses.get();
    }

    public long deadLetters(String reason) {
        AtomicLong n = deadLetters.get(reason);
        return n == null ? 0 : n.get();
    }

    public long deadLettersTotal() {
        return deadLetters.values().stream().mapToLong(AtomicLong::get).sum();
    }

    public long cancellations(String reason) {
        AtomicLong n = cancellations.get(reason);
        return n == null ? 0 : n.get();
    }

    @Override
    public String toString() {
        return "queue=" + queueDepth() + " active=" + activeTurns() + " steps=" + steps() + " tokens=" + tokens()
                + " turns=" + turnsCompleted() + " kvHits=" + kvHits() + " kvMisses=" + kvMisses()
                + " deadLetters=" + deadLetters + " cancellations=" + cancellations
                + " transcriptions(ok/failed)=" + transcriptionsOk + "/" + transcriptionsFailed;
    }
}
