package dev.omnicall.bridge.kafka;

import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.LongSupplier;

/**
 * Finds the calls a previous run of this bridge left live: a bridge that dies without {@code stop()}
 * (SIGKILL, OOM kill, node loss) publishes no CallEnded, so without this its calls stay live for every
 * reader of call-events: workers generate their replies to the token limit, the streams role keeps their
 * context, the dashboard shows them.
 *
 * <p>The successor (same {@code bridgeId}, e.g. the same StatefulSet pod name) reads the call-events
 * partitions it owns from {@code now - lookback} up to the ends it {@linkplain #markEnd() marked} before it
 * opened its SIP port, read_committed. A call is an orphan when some event in that range carries this
 * {@code bridgeId} and no CallEnded (from any bridge) follows it. Every call the new run answers is
 * published after the mark, so the sweep never sees, and never ends, one of them. The bridge then publishes
 * CallEnded(BRIDGE_LOST) for each orphan; running the sweep again finds those and ends nothing twice.
 *
 * <p>Not thread-safe: {@link #markEnd()} then {@link #find()} from one thread at a time; {@link #wakeup()}
 * from any thread aborts a {@code find()} in progress.
 */
public final class OrphanSweep implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(OrphanSweep.class);

    /** A call this bridge held that never ended: where it lives and when it was last heard of (epoch µs). */
    public record Orphan(String callId, int partition, long firstEventUs, long lastEventUs) {
    }

    /**
     * What one sweep read.
     *
     * @param orphans             calls to end, in the order first seen
     * @param recordsRead         call-events records read (all bridges' calls)
     * @param unreadable          records that could not be decoded (skipped; counted)
     * @param incompletePartitions partitions not read to their mark before the deadline: their calls are
     *                            not reported, since a CallEnded may lie in the unread part
     */
    public record Result(List<Orphan> orphans, long recordsRead, long unreadable, List<Integer> incompletePartitions) {
    }

    /**
     * The calls of one bridge as call-events tells them, fed in offset order per partition. Pure: no Kafka.
     */
    static final class Ledger {
        private final String bridgeId;
        private final Map<String, Orphan> live = new LinkedHashMap<>();
        private final Set<String> ended = new HashSet<>();

        Ledger(String bridgeId) {
            this.bridgeId = bridgeId;
        }

        void accept(int partition, CallEvent e) {
            String callId = e.getCallId();
            if (e.getPayload() instanceof CallEnded) {
                // whoever ended it (a previous sweep, another bridge in a failover), it is over
                live.remove(callId);
                ended.add(callId);
                return;
            }
            if (!bridgeId.equals(e.getBridgeId()) || ended.contains(callId)) {
                return;
            }
            long at = e.getOccurredUs();
            live.merge(callId, new Orphan(callId, partition, at, at),
                    (old, now) -> new Orphan(callId, partition, Math.min(old.firstEventUs(), at),
                            Math.max(old.lastEventUs(), at)));
        }

        List<Orphan> live(Set<Integer> excludedPartitions) {
            return live.values().stream().filter(o -> !excludedPartitions.contains(o.partition())).toList();
        }
    }

    private final KafkaConsumer<String, byte[]> consumer;
    private final Deserializer<CallEvent> deserializer;
    private final String bridgeId;
    private final List<TopicPartition> partitions;
    private final Duration lookback;
    private final Duration timeout;
    private final LongSupplier clockMs;
    private final BridgeMetrics metrics;
    private Map<TopicPartition, Long> ends;
    private volatile boolean closed;

    /**
     * @param owned    the call-events partitions this bridge owns ({@link PartitionAffinity#ownedPartitions()})
     * @param lookback how far back to look for calls still live; a call with no event of its own in this
     *                 window is not found
     * @param timeout  bound on each Kafka request and on the whole read
     */
    public OrphanSweep(KafkaSettings settings, SerdeConfig serde, String bridgeId, List<Integer> owned, Duration lookback,
                       Duration timeout, LongSupplier clockMs, BridgeMetrics metrics) {
        if (lookback.isNegative() || lookback.isZero()) {
            throw new IllegalArgumentException("orphan look-back must be positive, got " + lookback);
        }
        Map<String, Object> props = settings.consumer("unused", "bridge-" + bridgeId + "-orphan-sweep");
        props.remove(ConsumerConfig.GROUP_ID_CONFIG); // assign() without a group: a one-off read, nothing to commit
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        this.consumer = new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer());
        this.deserializer = Topics.CALL_EVENTS.valueSerde(serde).deserializer();
        this.bridgeId = Objects.requireNonNull(bridgeId, "bridgeId");
        this.partitions = owned.stream().map(p -> new TopicPartition(Topics.CALL_EVENTS.name(), p)).toList();
        this.lookback = lookback;
        this.timeout = timeout;
        this.clockMs = clockMs;
        this.metrics = metrics;
    }

    /**
     * Fixes where the read stops: the current ends (last stable offsets) of the owned partitions. Call it
     * before the bridge accepts calls, so nothing the new run publishes lies before the mark.
     */
    public void markEnd() {
        ends = Map.copyOf(consumer.endOffsets(partitions, timeout));
    }

    /** Reads from {@code now - lookback} to the mark and returns the calls of this bridge that never ended. */
    public Result find() {
        if (ends == null) {
            throw new IllegalStateException("markEnd() must come before find()");
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        long fromMs = clockMs.getAsLong() - lookback.toMillis();
        Map<TopicPartition, Long> query = new HashMap<>();
        partitions.forEach(tp -> query.put(tp, fromMs));
        Map<TopicPartition, OffsetAndTimestamp> starts = consumer.offsetsForTimes(query, timeout);

        List<TopicPartition> toRead = new ArrayList<>();
        for (TopicPartition tp : partitions) {
            OffsetAndTimestamp start = starts.get(tp);
            long end = ends.getOrDefault(tp, 0L);
            if (start != null && start.offset() < end) { // null: no record at or after fromMs
                toRead.add(tp);
            }
        }
        consumer.assign(toRead);
        toRead.forEach(tp -> consumer.seek(tp, starts.get(tp).offset()));

        Ledger ledger = new Ledger(bridgeId);
        Set<TopicPartition> pending = new HashSet<>(toRead);
        long read = 0;
        long unreadable = 0;
        while (!pending.isEmpty() && System.nanoTime() < deadline) {
            for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                if (r.offset() >= ends.get(tp) || r.timestamp() < fromMs) {
                    continue; // the new run's records; or older than the window (the time index is per batch)
                }
                read++;
                try {
                    CallEvent e = deserializer.deserialize(r.topic(), r.value());
                    if (e == null) {
                        throw new IllegalArgumentException("null CallEvent (tombstone)");
                    }
                    ledger.accept(r.partition(), e);
                } catch (RuntimeException e) {
                    // the streams role and the workers dead-letter it; here it only must not stop the sweep
                    unreadable++;
                    metrics.kafkaError("orphan_sweep_unreadable");
                    LOG.warn("orphan sweep skips unreadable {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.toString());
                }
            }
            pending.removeIf(tp -> consumer.position(tp, timeout) >= ends.get(tp));
        }
        Set<Integer> incomplete = new TreeSet<>();
        pending.forEach(tp -> incomplete.add(tp.partition()));
        consumer.unsubscribe();
        return new Result(ledger.live(incomplete), read, unreadable, List.copyOf(incomplete));
    }

    /** Aborts a {@link #find()} in progress on another thread (it throws {@link WakeupException}). */
    public void wakeup() {
        if (!closed) {
            consumer.wakeup();
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            consumer.close(Duration.ofSeconds(5));
        }
    }
}
