package dev.omnicall.worker;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.DeadLetters;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import dev.omnicall.kafka.TurnTrace;
import dev.omnicall.worker.engine.TurnEngine;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The inference worker: one consumer over {@code turn-requests} and {@code call-events} (co-partitioned, one
 * group, so all of a call lands here), a {@link TurnScheduler} doing continuous batching on the engine, and
 * one idempotent producer for TextDeltas, AudioChunks, CallerTexts and dead letters. Two threads: this one owns the
 * consumer (poll → decode and dispatch → commit), the engine's ({@link ComputeLoop}) runs the decode steps and, between
 * two steps, what this thread hands it in order (a request to queue, a BargeIn or CallEnded to cancel, partitions to
 * abandon). So the engine never waits for Kafka, a request is read and stamped ({@code requestConsumedUs}) while a
 * step runs, and a cancel read during a step stops its turn before the next step.
 *
 * <p><b>At-least-once.</b> An offset is committed only when every turn at or below it on its partition has
 * completed, been cancelled or been dead-lettered ({@link OffsetTracker}); a call event's offset waits for
 * the turns read before it on the same partition, so after a crash the new owner sees the cancel again.
 * The producer is flushed before each commit; if a produce failed for good, the worker commits nothing more
 * and stops, leaving the turns to its successor.
 *
 * <p><b>Attempts.</b> Output carries {@code attempt} = the consumer-group generation in which this worker read
 * the request. A partition only changes owner through a rebalance, which raises the generation, so a request
 * re-delivered after a crash or a reassignment always runs under a higher attempt than any earlier try; the
 * bridge plays the first attempt it hears and lets a higher one replace one that has not begun to play.
 * (Static membership, {@code group.instance.id}, would let a restarted member keep its generation: do not
 * set it for workers.)
 *
 * <p><b>Bad input.</b> Values are consumed as bytes and decoded per record: anything unreadable or invalid
 * goes to {@code dead-letters} with the original bytes and the error, is counted, and the loop goes on.
 */
public final class InferenceWorker implements Runnable, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(InferenceWorker.class);
    /**
     * The consumer thread's poll: it returns as soon as records come, so this bounds only how late a finished turn's
     * offset is committed (the engine's steps no longer wait for polls).
     */
    static final Duration POLL = Duration.ofMillis(20);
    /**
     * The poll while the worker has nothing in hand (no turn in the engine, no offset to commit, nothing paused, not
     * draining): records still end it at once, and nothing else in the loop has work, so it need not turn 50 times a
     * second (issue 16, an idle app stays idle). {@link #close()} wakes it.
     */
    static final Duration IDLE_POLL = Duration.ofMillis(500);
    /**
     * System property: real-time admission's margin in ms (newcomers are admitted only while every speaking turn has
     * at least this much audio out ahead of its playback; while not, turn-requests pause). Unset or negative: off.
     */
    public static final String ADMISSION_MARGIN_MS = "omnicall.worker.admission-margin-ms";
    /**
     * System property: {@code off} lets a newcomer's start run one slice every loop; on (the default) at most one per
     * chunk gap of every speaking turn ({@link TurnScheduler#setPrefillGapBound}).
     */
    public static final String PREFILL_GAP_BOUND = "omnicall.worker.prefill-gap-bound";
    /**
     * System property: the margin-aware gap bound ({@link TurnScheduler#setPrefillGapMargin}): N >= 0 ms turns the
     * bound on for speaking turns less than N ms of audio ahead of their playback only (whatever
     * {@value #PREFILL_GAP_BOUND} says). Unset: {@value #PREFILL_GAP_BOUND} decides.
     */
    public static final String PREFILL_GAP_MARGIN_MS = "omnicall.worker.prefill-gap-margin-ms";
    /** The consumer session timeout unless {@code kafka.session.timeout.ms} says otherwise. */
    public static final int DEFAULT_SESSION_TIMEOUT_MS = 6000;
    /** The consumer heartbeat interval unless {@code kafka.heartbeat.interval.ms} says otherwise. */
    public static final int DEFAULT_HEARTBEAT_INTERVAL_MS = 250;
    /**
     * How long the broker may hold this worker's fetch when there is nothing to read, unless
     * {@code kafka.fetch.max.wait.ms} says otherwise. New records (for read_committed: a commit) end the wait at once,
     * so this costs no latency to a turn (KafkaLongPollIT); it bounds what partitions handed over in a rebalance, or
     * resumed after back-pressure, wait for the fetch in flight, which adds up to this much to a dead worker's takeover
     * (session timeout + heartbeat + this). 10 ms made an idle worker and the broker answer 100 empty fetches a second;
     * 100 ms still cost ~2 % of a core in the worker's, the broker's network, request and fetch-expiry threads (quarkus-app
     * README, "Idle app"); 250 ms is 4 a second and adds at most a quarter second to a 6 s takeover.
     */
    public static final int DEFAULT_FETCH_MAX_WAIT_MS = 250;
    /** Cancelled turns and ended calls remembered, so a request read after its cancel never runs. */
    private static final int TOMBSTONES = 10_000;
    /** Room left in a dead letter for the original value: the topic's record limit less 64 KiB for the rest. */
    static final int MAX_DEAD_LETTER_VALUE = Topic.LARGE_RECORD_BYTES - 64 * 1024;

    private final WorkerConfig config;
    private final WorkerMetrics metrics;
    private final TurnTrace trace;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final KafkaProducer<String, byte[]> producer;
    private final TurnRequests requests;
    private final Deserializer<CallEvent> callEvents;
    private final Serializer<TextDelta> textSerializer;
    private final Serializer<AudioChunk> audioSerializer;
    private final Serializer<CallerText> callerTextSerializer;
    private final Serializer<DeadLetter> deadLetterSerializer;
    private final OffsetTracker offsets = new OffsetTracker();
    private final ConversationCache cache;
    private final TurnScheduler scheduler;
    /** The engine's thread: the scheduler, the engine and the cache are touched there only while it runs. */
    private final ComputeLoop compute;
    /** Turns the engine's thread finished (partition, offset), for this thread's {@link OffsetTracker}. */
    private final java.util.concurrent.ConcurrentLinkedQueue<Finished> finishedTurns =
            new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final Set<String> cancelledTurns = tombstoneSet();
    private final Set<String> endedCalls = tombstoneSet();
    private final Set<TopicPartition> paused = new HashSet<>();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final AtomicBoolean started = new AtomicBoolean();
    /** The first produce that failed for good: output was lost, so no offset may be committed after it. */
    private final AtomicReference<Exception> sendFailure = new AtomicReference<>();
    private volatile boolean joined;
    private volatile boolean draining;
    private volatile long drainDeadlineNanos;
    /** Turn-requests have been paused for the drain (written by the loop thread). */
    private volatile boolean drainPaused;
    private volatile boolean assigned;

    public InferenceWorker(WorkerConfig config, TurnEngine engine, WorkerMetrics metrics) {
        this(config, engine, metrics, TurnTrace.RELAY);
    }

    /** With {@code trace} called as each attempt's first AudioChunk goes out (its trace context header). */
    public InferenceWorker(WorkerConfig config, TurnEngine engine, WorkerMetrics metrics, TurnTrace trace) {
        this.config = config;
        this.trace = trace;
        this.metrics = metrics;
        Map<String, Object> c = config.kafka().consumer(config.groupId(), config.instanceId());
        // Partition i of turn-requests and of call-events must land on the same worker, or a call's BargeIn or
        // CallEnded reaches a worker that is not running its turn (BUG-1, WorkerCoPartitioningIT):
        // CallPartitionAssignor hands out partition numbers, sticky and cooperative, so a membership change
        // moves only the partitions it must and the turns of the others keep generating.
        c.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CallPartitionAssignor.class.getName());
        // A dead worker's turns wait out its session before another worker redoes them: the client default
        // (45 s) would leave callers in silence that long. 6 s is the brokers' default minimum
        // (group.min.session.timeout.ms); heartbeats every 250 ms let the survivor learn of the
        // rebalance within a quarter second of the expiry. Both can be overridden as kafka.* keys.
        c.putIfAbsent(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, DEFAULT_SESSION_TIMEOUT_MS);
        c.putIfAbsent(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, DEFAULT_HEARTBEAT_INTERVAL_MS);
        if (!config.kafka().passthrough().containsKey(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG)) {
            c.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, DEFAULT_FETCH_MAX_WAIT_MS);
        }
        this.consumer = new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.producer = new KafkaProducer<>(producerConfig(config), new StringSerializer(), new ByteArraySerializer());
        this.requests = new TurnRequests(Topics.TURN_REQUESTS.valueSerde(config.serde()).deserializer(),
                config.maxAudio().toMillis() / 1000.0);
        this.callEvents = Topics.CALL_EVENTS.valueSerde(config.serde()).deserializer();
        this.textSerializer = Topics.RESPONSE_TEXT.valueSerde(config.serde()).serializer();
        this.audioSerializer = Topics.RESPONSE_AUDIO.valueSerde(config.serde()).serializer();
        this.callerTextSerializer = Topics.CALLER_TEXT.valueSerde(config.serde()).serializer();
        this.deadLetterSerializer = Topics.DEAD_LETTERS.valueSerde(config.serde()).serializer();
        this.cache = new ConversationCache(config.kvCacheBytes(), metrics);
        this.scheduler = new TurnScheduler(engine, cache, config.maxBatch(), config.batchedDecode(),
                config.instanceId(), metrics, new KafkaOutput(), config.transcription().tokensPerStep(),
                config.transcription().maxDelay());
        // Real-time admission (issue 14 item 5): -Domnicall.worker.admission-margin-ms=auto (400 ms on a GPU, off on the
        // CPU; the default), off, or N >= 0 (AdmissionMargin says why auto differs by device)
        String admission = System.getProperty(ADMISSION_MARGIN_MS, AdmissionMargin.AUTO);
        Optional<Duration> margin = AdmissionMargin.resolve(admission, config.device());
        margin.ifPresentOrElse(m -> {
            scheduler.setAdmissionMargin(m);
            LOG.info("worker {}: real-time admission on: newcomers wait (and turn-requests pause) while a speaking turn"
                    + " is less than {} ms of audio ahead of its playback ({}={}, device {})", config.instanceId(),
                    m.toMillis(), ADMISSION_MARGIN_MS, admission, config.device());
        }, () -> LOG.info("worker {}: real-time admission off: newcomers start whatever the speaking turns' margins"
                + " ({}={}, device {})", config.instanceId(), ADMISSION_MARGIN_MS, admission, config.device()));
        // The chunked-prefill gap bound (issue 14 item 3) is off unless -Domnicall.worker.prefill-gap-bound=on: through
        // the whole app on 2 CPU cores it cost first audio at K=10 p50 1036-1044 -> 1714-1717 ms (session 12, four
        // interleaved PipelineBenchmark runs, load 1.0-2.2), because a newcomer's start then waits for every speaking
        // turn's next chunk; the scheduler's own default (tests, benchmarks) stays on
        boolean gapBound = "on".equalsIgnoreCase(System.getProperty(PREFILL_GAP_BOUND, "off"));
        long gapMarginMs = Long.getLong(PREFILL_GAP_MARGIN_MS, -1);
        if (gapMarginMs >= 0) {
            scheduler.setPrefillGapMargin(Duration.ofMillis(gapMarginMs));
            LOG.info("worker {}: chunked prefill lets at most one slice of a newcomer's start fall between two audio"
                    + " chunks of a speaking turn less than {} ms ahead of its playback, any number for the others"
                    + " ({}={})", config.instanceId(), gapMarginMs, PREFILL_GAP_MARGIN_MS, gapMarginMs);
        } else {
            scheduler.setPrefillGapBound(gapBound);
            LOG.info("worker {}: chunked prefill {} ({}={})", config.instanceId(), gapBound
                    ? "lets at most one slice of a newcomer's start fall between two audio chunks of a speaking turn"
                    : "runs a newcomer's slice every loop, however many fall into one chunk gap of a speaking turn",
                    PREFILL_GAP_BOUND, gapBound ? "on" : "off");
        }
        this.compute = new ComputeLoop(scheduler, "omnicall-engine-" + config.instanceId());
    }

    private record Finished(TopicPartition partition, long offset) {
    }

    /**
     * The worker's producer settings: {@code KafkaSettings.producer}, keeping its topic metadata through a broker
     * outage. With Kafka 4's default {@code metadata.recovery.strategy=rebootstrap} the producer drops its cached
     * metadata when its only broker stops answering, and the next {@code send} (a reply chunk, a CallerText) waits in
     * {@code waitOnMetadata} on the worker's loop thread for up to {@code max.block.ms} (60 s), then fails, and the
     * worker stops without committing (CallerTextBrokerKillIT saw 23.9 s of metadata wait in a 23 s outage; the
     * bridge's BUG-6 was the same). With {@code none} sends go on into the producer's buffer and out when the broker
     * is back; the flush before a commit still waits for them, up to {@code delivery.timeout.ms} (120 s).
     * {@code kafka.metadata.recovery.strategy} overrides it (a cluster whose brokers all change address at once needs
     * {@code rebootstrap}).
     */
    static Map<String, Object> producerConfig(WorkerConfig config) {
        Map<String, Object> p = config.kafka().producer(config.instanceId());
        p.putIfAbsent(CommonClientConfigs.METADATA_RECOVERY_STRATEGY_CONFIG, "none");
        return p;
    }

    /** The loop; returns after {@link #close()} (from another thread) or a fatal error. */
    @Override
    public void run() {
        if (!started.compareAndSet(false, true)) {
            throw new IllegalStateException("worker " + config.instanceId() + " runs already");
        }
        if (!running.get()) {
            shutdown();
            return;
        }
        consumer.subscribe(List.of(Topics.TURN_REQUESTS.name(), Topics.CALL_EVENTS.name()), new Rebalance());
        LOG.info("worker {} on {} reading {} and {} in group {} (max batch {}, batched decode {})",
                config.instanceId(), config.device(), Topics.TURN_REQUESTS.name(), Topics.CALL_EVENTS.name(),
                config.groupId(), config.maxBatch(), config.batchedDecode());
        compute.start();
        try {
            while (running.get()) {
                requireEngineAlive();
                if (draining && drained()) {
                    break;
                }
                boolean busy = compute.hasWork() || !finishedTurns.isEmpty() || !paused.isEmpty() || draining;
                ConsumerRecords<byte[], byte[]> records = consumer.poll(pollTimeout(busy));
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    dispatch(r);
                }
                takeFinished();
                applyBackpressure();
                commitAsync();
            }
        } catch (WakeupException e) {
            if (running.get()) {
                throw e;
            }
        } catch (RuntimeException e) {
            LOG.error("worker {} stops on an unexpected error", config.instanceId(), e);
            throw e;
        } finally {
            shutdown();
        }
    }

    /** {@link #POLL} while turns are in hand (offsets to commit soon, paused partitions to resume), else {@link #IDLE_POLL}. */
    static Duration pollTimeout(boolean busy) {
        return busy ? POLL : IDLE_POLL;
    }

    /**
     * Stops taking turns and lets the ones already read finish, for at most {@code grace}, then stops as
     * {@link #close()} does (a rollout or scale-in: callers hear their replies to the end). Call events are
     * still read while draining, so a BargeIn or CallEnded still cancels. Turns unfinished at the deadline are
     * left uncommitted and redone by the partition's next owner.
     */
    public void drainAndClose(Duration grace) {
        if (!running.get()) {
            close();
            return;
        }
        drainDeadlineNanos = System.nanoTime() + grace.toNanos();
        draining = true;
        try {
            if (!stopped.await(grace.toMillis() + 1000, java.util.concurrent.TimeUnit.MILLISECONDS)) {
                LOG.warn("worker {}: drain did not end within {} s, stopping", config.instanceId(), grace.toSeconds());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        close();
    }

    /** True once a drain began and the worker takes no new turn. */
    public boolean isDraining() {
        return drainPaused;
    }

    /** Loop thread: pauses turn-requests once draining begins; true when the turns are done or time is up. */
    private boolean drained() {
        if (!drainPaused) {
            List<TopicPartition> turnPartitions = consumer.assignment().stream()
                    .filter(tp -> tp.topic().equals(Topics.TURN_REQUESTS.name())).toList();
            consumer.pause(turnPartitions);
            paused.addAll(turnPartitions);
            drainPaused = true;
            LOG.info("worker {} draining: {} turn(s) running, {} queued, turn-requests paused", config.instanceId(),
                    scheduler.publishedActive(), compute.queued());
        }
        if (!compute.hasWork()) {
            LOG.info("worker {} drained", config.instanceId());
            return true;
        }
        if (System.nanoTime() - drainDeadlineNanos > 0) {
            LOG.warn("worker {}: drain deadline reached with {} turn(s) unfinished; they go to the next owner",
                    config.instanceId(), scheduler.publishedActive() + compute.queued());
            return true;
        }
        return false;
    }

    /** True once this worker joined its group (it may hold no partition when workers outnumber them). */
    public boolean hasJoined() {
        return joined;
    }

    /** True once the group gave this worker at least one partition. */
    public boolean isAssigned() {
        return assigned;
    }

    /** Turns waiting for a batch slot; safe from any thread. */
    public int waitingTurns() {
        return scheduler.publishedWaiting();
    }

    /** Turns generating; safe from any thread. */
    public int activeTurns() {
        return scheduler.publishedActive();
    }

    /** The per-call KV cache, for tests (not thread-safe: read it only while the worker is quiet). */
    public ConversationCache cache() {
        return cache;
    }

    private void dispatch(ConsumerRecord<byte[], byte[]> r) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        if (r.topic().equals(Topics.TURN_REQUESTS.name())) {
            onTurnRequest(tp, r);
        } else if (r.topic().equals(Topics.CALL_EVENTS.name())) {
            onCallEvent(tp, r);
        } else {
            offsets.handled(tp, r.offset());
        }
    }

    private void onTurnRequest(TopicPartition tp, ConsumerRecord<byte[], byte[]> r) {
        // The end of the Kafka hop: taken as the polled record is dispatched, before it waits for a batch slot.
        long consumedUs = Clock.nowMicros();
        offsets.begin(tp, r.offset());
        TurnRequest request;
        try {
            request = requests.read(r.topic(), r.key(), r.value());
        } catch (BadTurnRequestException e) {
            LOG.warn("dead-lettering {}:{}: {}", tp, r.offset(), e.getMessage());
            deadLetter(r, e.reason().equals("undecodable") ? "deserialize" : "worker", e, e.reason());
            offsets.finish(tp, r.offset());
            return;
        }
        int attempt = consumer.groupMetadata().generationId();
        Turn turn = new Turn(request, TurnRequests.toInput(request), tp, r.offset(), r.key(),
                r.value(), attempt);
        turn.timings.setRequestConsumedUs(consumedUs);
        turn.requestHeaders = r.headers();
        String callId = turn.callId();
        if (endedCalls.contains(callId) || cancelledTurns.contains(callId + "#" + turn.turnId())) {
            compute.post(() -> scheduler.rejectCancelled(turn, "already-cancelled"));
            return;
        }
        compute.submit(turn);
    }

    private void onCallEvent(TopicPartition tp, ConsumerRecord<byte[], byte[]> r) {
        TopicPartition turns = new TopicPartition(Topics.TURN_REQUESTS.name(), r.partition());
        CallEvent event;
        try {
            if (r.value() == null) {
                throw new IllegalArgumentException("the record has no value (a tombstone?)");
            }
            event = callEvents.deserialize(r.topic(), r.value());
        } catch (RuntimeException e) {
            LOG.warn("dead-lettering unreadable call event {}:{}: {}", tp, r.offset(), e.toString());
            deadLetter(r, "deserialize", e, "undecodable-call-event");
            offsets.handled(tp, r.offset());
            return;
        }
        String callId = event.getCallId().toString();
        Object payload = event.getPayload();
        if (payload instanceof BargeIn b) {
            cancelledTurns.add(callId + "#" + b.getTurnId());
            compute.post(() -> {
                if (scheduler.cancel(callId, b.getTurnId(), "barge-in")) {
                    LOG.info("call {} turn {} cancelled by barge-in", callId, b.getTurnId());
                }
            });
        } else if (payload instanceof CallEnded) {
            endedCalls.add(callId);
            compute.post(() -> {
                int n = scheduler.cancelCall(callId, "call-ended");
                if (n > 0) {
                    LOG.info("call {} ended: {} turn(s) cancelled", callId, n);
                }
            });
        }
        offsets.handledAfter(tp, r.offset(), turns);
    }

    private void deadLetter(ConsumerRecord<byte[], byte[]> r, String stage, Throwable error, String reason) {
        DeadLetter dl = DeadLetters.of(r.topic(), r.partition(), r.offset(), r.key(), r.value(), stage, error,
                "worker:" + config.instanceId());
        sendDeadLetter(DeadLetters.keyOf(r.key()), dl);
        metrics.deadLetter(reason);
    }

    /**
     * A dead letter is best effort: one that cannot be produced is logged and counted, never a reason to stop
     * (else a poison record would stop every worker that reads it). Its value is cut to fit the topic.
     */
    private void sendDeadLetter(String key, DeadLetter dl) {
        byte[] bytes = deadLetterSerializer.serialize(Topics.DEAD_LETTERS.name(), bounded(dl, MAX_DEAD_LETTER_VALUE));
        producer.send(new ProducerRecord<>(Topics.DEAD_LETTERS.name(), key, bytes), (md, e) -> {
            if (e != null) {
                LOG.error("could not produce a dead letter for {}:{}@{}: {}", dl.getSourceTopic(), dl.getPartition(),
                        dl.getOffset(), e.toString());
                metrics.deadLetter("lost");
            }
        });
    }

    /** {@code dl} with its original value cut to {@code maxValueBytes}, saying so in the error message. */
    static DeadLetter bounded(DeadLetter dl, int maxValueBytes) {
        if (dl.getValue() == null || dl.getValue().remaining() <= maxValueBytes) {
            return dl;
        }
        int original = dl.getValue().remaining();
        ByteBuffer cut = dl.getValue().duplicate();
        cut.limit(cut.position() + maxValueBytes);
        return DeadLetter.newBuilder(dl).setValue(cut.slice())
                .setErrorMessage(dl.getErrorMessage() + " [value cut from " + original + " to " + maxValueBytes
                        + " bytes to fit the dead-letter topic]").build();
    }

    /** Output (text, audio): a produce that fails for good stops the worker before it commits past the loss. */
    private <V extends SpecificRecord> void send(String topic, String key, Serializer<V> serializer, V value) {
        send(topic, key, serializer, value, null);
    }

    private <V extends SpecificRecord> void send(String topic, String key, Serializer<V> serializer, V value,
                                                 Iterable<Header> headers) {
        byte[] bytes = serializer.serialize(topic, value);
        producer.send(new ProducerRecord<>(topic, null, key, bytes, headers), (md, e) -> {
            if (e != null) {
                LOG.error("could not produce to {} for key {}: {}", topic, key, e.toString());
                sendFailure.compareAndSet(null, e);
            }
        });
    }

    /**
     * Stops reading new turns while the queue is full, or while real-time admission holds the queued ones back (the
     * requests then wait in Kafka, where consumer lag shows the load); call events keep flowing so cancels still land.
     */
    private void applyBackpressure() {
        if (drainPaused) {
            return;   // draining: turn-requests stay paused until the worker stops
        }
        int queued = compute.queued();
        boolean full = queued >= config.maxQueuedTurns() || (queued > 0 && scheduler.admissionHeld());
        if (full && paused.isEmpty()) {
            for (TopicPartition tp : consumer.assignment()) {
                if (tp.topic().equals(Topics.TURN_REQUESTS.name())) {
                    paused.add(tp);
                }
            }
            consumer.pause(paused);
        } else if (!full && !paused.isEmpty()) {
            consumer.resume(paused);
            paused.clear();
        }
    }

    /** The turns the engine's thread finished since the last call, into the offset tracker (this thread's). */
    private void takeFinished() {
        Finished f;
        while ((f = finishedTurns.poll()) != null) {
            offsets.finish(f.partition(), f.offset());
        }
    }

    /** The engine's thread failed: stop as the single loop did on an unexpected error. */
    private void requireEngineAlive() {
        Throwable e = compute.failure();
        if (e != null) {
            throw e instanceof RuntimeException r ? r
                    : new IllegalStateException("worker " + config.instanceId() + ": the engine's thread failed", e);
        }
    }

    private void commitAsync() {
        Map<TopicPartition, Long> positions = offsets.pendingCommits();
        if (positions.isEmpty()) {
            return;
        }
        // Output of the finished turns must be durable before their offsets are: flush first. The flush is
        // only paid on the steps where a turn finished.
        producer.flush();
        requireOutputDelivered();
        offsets.markCommitted(positions);
        consumer.commitAsync(toOffsets(positions), (committed, e) -> {
            if (e != null) {
                LOG.warn("offset commit failed (a later commit or a re-delivery covers it): {}", e.toString());
            }
        });
    }

    private void commitSync(Collection<TopicPartition> only) {
        takeFinished();
        Map<TopicPartition, Long> positions = offsets.pendingCommits();
        positions.keySet().retainAll(only);
        if (positions.isEmpty()) {
            return;
        }
        producer.flush();
        if (sendFailure.get() != null) {
            LOG.warn("not committing {}: output was lost ({}); those records will be read again", positions,
                    sendFailure.get().toString());
            return;
        }
        try {
            consumer.commitSync(toOffsets(positions));
            offsets.markCommitted(positions);
        } catch (RuntimeException e) {
            LOG.warn("offset commit of {} failed; those records will be read again: {}", positions, e.toString());
        }
    }

    /**
     * A produce that failed after the producer's own retries (delivery timeout, fatal idempotence error) lost
     * output: stop without committing, so the turns are read again by this worker's successor.
     */
    private void requireOutputDelivered() {
        Exception e = sendFailure.get();
        if (e != null) {
            throw new IllegalStateException("worker " + config.instanceId() + " stops: output could not be produced"
                    + " and committing past it would lose it: " + e, e);
        }
    }

    private static Map<TopicPartition, OffsetAndMetadata> toOffsets(Map<TopicPartition, Long> positions) {
        Map<TopicPartition, OffsetAndMetadata> out = new HashMap<>();
        positions.forEach((tp, pos) -> out.put(tp, new OffsetAndMetadata(pos)));
        return out;
    }

    private final class Rebalance implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (partitions.isEmpty()) {
                return;
            }
            // Stop their turns first (between two engine steps), then commit what finished up to then: the same
            // turns end and the same offsets are committed as when one thread did both with no step between.
            int abandoned = stopTurns(partitions);
            commitSync(partitions);
            forget(partitions, "revoked", abandoned);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            int abandoned = stopTurns(partitions);
            takeFinished();
            forget(partitions, "lost", abandoned);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            joined = true;
            if (!paused.isEmpty() || drainPaused) {
                // the queue is full, or the worker drains: newly assigned turn partitions wait too
                List<TopicPartition> turnPartitions = partitions.stream()
                        .filter(tp -> tp.topic().equals(Topics.TURN_REQUESTS.name())).toList();
                consumer.pause(turnPartitions);
                paused.addAll(turnPartitions);
            }
            if (!partitions.isEmpty()) {
                assigned = true;
                LOG.info("worker {} assigned {} (generation {})", config.instanceId(), partitions,
                        consumer.groupMetadata().generationId());
            }
        }

        /** On the engine's thread, between two steps: abandons the partitions' turns and drops their calls' caches. */
        private int stopTurns(Collection<TopicPartition> partitions) {
            Set<Integer> numbers = new HashSet<>();
            for (TopicPartition tp : partitions) {
                if (tp.topic().equals(Topics.TURN_REQUESTS.name())) {
                    numbers.add(tp.partition());
                }
            }
            List<TopicPartition> gone = List.copyOf(partitions);
            return compute.call(s -> {
                int n = s.abandon(gone);
                cache.dropPartitions(numbers);
                return n;
            });
        }

        private void forget(Collection<TopicPartition> partitions, String why, int abandoned) {
            offsets.forget(partitions);
            paused.removeAll(partitions);
            LOG.info("worker {}: partitions {} {}; {} unfinished turn(s) left to the next owner", config.instanceId(),
                    partitions, why, abandoned);
        }
    }

    private final class KafkaOutput implements TurnOutput {
        @Override
        public void text(Turn turn, TextDelta delta) {
            // an attempt cancelled before its first chunk ends its trace here (after one, firstChunk made its spans)
            boolean cutShort = delta.getCancelled() && turn.timings.getFirstChunkProducedUs() == null;
            send(Topics.RESPONSE_TEXT.name(), turn.callId(), textSerializer, delta, !cutShort ? null
                    : trace.turnCancelled(turn.requestHeaders, turn.callId(), turn.turnId(), turn.attempt(),
                            delta.getTimings(), Clock.nowMicros(), turn.cancelReason));
        }

        @Override
        public void audio(Turn turn, AudioChunk chunk) {
            send(Topics.RESPONSE_AUDIO.name(), turn.callId(), audioSerializer, chunk,
                    chunk.getSeq() == 0 ? trace.firstChunk(turn.requestHeaders, chunk) : null);
        }

        @Override
        public void callerText(Turn turn, CallerText text) {
            send(Topics.CALLER_TEXT.name(), turn.callId(), callerTextSerializer, text);
        }

        @Override
        public void transcriptionFailed(Turn turn, Throwable error) {
            // The request itself was fine and its reply plays: the dead letter records the utterance the decoder
            // failed on (stage transcribe), so it can be replayed once the decoder is fixed.
            DeadLetter dl = DeadLetters.of(turn.partition().topic(), turn.partition().partition(), turn.offset(),
                    turn.key(), turn.value(), "transcribe", error, "worker:" + config.instanceId());
            sendDeadLetter(turn.callId(), dl);
            metrics.deadLetter("transcription");
        }

        @Override
        public void finished(Turn turn, Outcome outcome, Throwable error) {
            if (outcome == Outcome.FAILED) {
                DeadLetter dl = DeadLetters.of(turn.partition().topic(), turn.partition().partition(), turn.offset(),
                        turn.key(), turn.value(), "process", error, "worker:" + config.instanceId());
                sendDeadLetter(turn.callId(), dl);
                metrics.deadLetter("model-error");
            }
            finishedTurns.add(new Finished(turn.partition(), turn.offset()));
        }
    }

    /** Asks the loop to stop; waits until it has committed what is finished and closed its clients. */
    @Override
    public void close() {
        if (running.compareAndSet(true, false)) {
            if (!started.get()) {
                if (started.compareAndSet(false, true)) {
                    shutdown();
                    return;
                }
            }
            consumer.wakeup();
        }
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void shutdown() {
        try {
            // the step in progress ends and its output is sent; then nothing runs the engine but this thread
            compute.stop(Duration.ofSeconds(120));
        } catch (RuntimeException e) {
            LOG.warn("worker {}: {}", config.instanceId(), e.getMessage());
        }
        try {
            commitSync(consumer.assignment());
        } catch (RuntimeException e) {
            LOG.warn("final commit failed: {}", e.toString());
        }
        scheduler.close();
        cache.clear();
        try {
            consumer.close(Duration.ofSeconds(5));
        } catch (RuntimeException e) {
            LOG.warn("consumer close: {}", e.toString());
        }
        producer.close(Duration.ofSeconds(5));
        stopped.countDown();
        LOG.info("worker {} stopped", config.instanceId());
    }

    private static Set<String> tombstoneSet() {
        return Collections.newSetFromMap(new LinkedHashMap<>(256, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                return size() > TOMBSTONES;
            }
        });
    }
}
