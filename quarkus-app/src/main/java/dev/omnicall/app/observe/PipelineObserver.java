package dev.omnicall.app.observe;

import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

/**
 * The dashboard's and metrics' view of the pipeline: one consumer, in its own group, reading
 * {@code response-text}, {@code caller-text}, {@code call-events}, {@code transcripts}, {@code turn-metrics}
 * and {@code dead-letters} from the latest offsets. Each record updates the {@link PipelineMetrics} and the
 * {@link DashboardState} and is published to the SSE stream.
 *
 * <p>So that a page opened after a restart (or on a pod that started after the calls) is not empty, the
 * first assignment of each partition also reads back a bounded tail: the last {@code maxCalls} records of
 * the compacted {@code transcripts} (one per call: caller and bot text, ended), and the last
 * {@code 4 × maxCalls} of {@code call-events}, {@code caller-text} and {@code turn-metrics} and 20 of
 * {@code dead-letters}.
 * Those history records only fill the dashboard state: they are not counted in the metrics (a restart must
 * not count old calls again) and not pushed to browsers. {@code response-text} is not read back (the
 * transcripts carry each turn's final text).
 *
 * <p>A record it cannot decode is counted ({@code omnicall_observer_unreadable_total{topic}}) and logged,
 * never dead-lettered: this consumer only watches, and every instance runs one, so dead-lettering here
 * would duplicate what the owning role already reported.
 *
 * <p>The caller's words on {@code caller-text} are raw (the worker does not redact); when transcript redaction
 * is on, the observer masks them with the streams role's own redactor before they reach the dashboard state or
 * a browser, so the page never shows more than the {@code transcripts} topic.
 */
public final class PipelineObserver implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(PipelineObserver.class);
    /**
     * How long a poll waits when nothing comes: a record ends it as soon as its fetch returns, so this only sets how
     * often an idle thread goes round (200 ms until issue 16); close() wakes it.
     */
    static final Duration IDLE_POLL = Duration.ofSeconds(5);

    /** The topics the dashboard watches. */
    public static final List<Topic<?>> WATCHED = List.of(Topics.RESPONSE_TEXT, Topics.CALLER_TEXT, Topics.CALL_EVENTS,
            Topics.TRANSCRIPTS, Topics.TURN_METRICS, Topics.DEAD_LETTERS);

    private final KafkaConsumer<String, byte[]> consumer;
    private final Map<String, Deserializer<?>> deserializers = new HashMap<>();
    private final PipelineMetrics metrics;
    private final DashboardState state;
    private final Consumer<Map<String, Object>> publish;
    private final UnaryOperator<String> redactCallerText;
    private final AtomicLong unreadable = new AtomicLong();
    /** Per partition, the end offset when it was first assigned: records below it are history. */
    private final Map<TopicPartition, Long> historyEnd = new HashMap<>();
    private final Set<TopicPartition> seeded = new HashSet<>();
    private final AtomicLong historyRecords = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile boolean assigned;
    private volatile String lastError;

    public PipelineObserver(KafkaSettings kafka, SerdeConfig serde, String groupId, String clientId,
                            PipelineMetrics metrics, DashboardState state, Consumer<Map<String, Object>> publish) {
        this(kafka, serde, groupId, clientId, metrics, state, publish, UnaryOperator.identity());
    }

    /**
     * @param redactCallerText applied to the caller's text of every {@code caller-text} record
     *                         ({@code TranscriptRedactor::redactText} when transcript redaction is on)
     */
    public PipelineObserver(KafkaSettings kafka, SerdeConfig serde, String groupId, String clientId,
                            PipelineMetrics metrics, DashboardState state, Consumer<Map<String, Object>> publish,
                            UnaryOperator<String> redactCallerText) {
        Map<String, Object> props = kafka.consumer(groupId, clientId);
        // A dashboard shows what happens from now on; it neither replays history nor needs commits.
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "latest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // display only: a record ends the broker's wait at once; after a rebalance the dashboard may lag up to this
        if (!kafka.passthrough().containsKey(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG)) {
            props.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, KafkaSettings.LONG_FETCH_WAIT_MS);
        }
        this.consumer = new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer());
        for (Topic<?> t : WATCHED) {
            deserializers.put(t.name(), t.valueSerde(serde).deserializer());
        }
        this.metrics = metrics;
        this.state = state;
        this.publish = publish;
        this.redactCallerText = redactCallerText;
        this.thread = new Thread(this::run, "omnicall-dashboard-consumer");
        this.thread.setDaemon(true);
    }

    public void start() {
        thread.start();
    }

    /** True once the consumer holds its partitions and knows their latest offsets. */
    public boolean assigned() {
        return assigned;
    }

    public String lastError() {
        return lastError;
    }

    public long unreadable() {
        return unreadable.get();
    }

    private void run() {
        try {
            consumer.subscribe(WATCHED.stream().map(Topic::name).toList(), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    assigned = false;
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    readBackTails(partitions);
                    // Resolve "latest" now, so anything produced after assigned() is true is seen.
                    partitions.forEach(consumer::position);
                    assigned = true;
                }
            });
            while (running) {
                try {
                    for (ConsumerRecord<String, byte[]> r : consumer.poll(IDLE_POLL)) {
                        handle(r);
                    }
                    lastError = null;
                } catch (WakeupException e) {
                    if (running) {
                        throw e;
                    }
                } catch (KafkaException e) {
                    metrics.pollError();
                    if (!java.util.Objects.equals(e.getMessage(), lastError)) {
                        LOG.warnf("dashboard consumer: poll failed, retrying in 1 s: %s", e.getMessage());
                    }
                    lastError = e.getMessage();
                    Thread.sleep(1000);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            lastError = e.toString();
            LOG.error("dashboard consumer stopped", e);
        } finally {
            assigned = false;
            consumer.close(Duration.ofSeconds(5));
        }
    }

    /** Number of records read back as history at start-up (and on first assignment of a partition). */
    public long historyRecords() {
        return historyRecords.get();
    }

    /** How many records before the end of {@code topic}'s partitions the first assignment reads back. */
    private int tailDepth(String topic) {
        int calls = state.maxCalls();
        if (topic.equals(Topics.TRANSCRIPTS.name())) {
            return calls;
        }
        if (topic.equals(Topics.CALL_EVENTS.name()) || topic.equals(Topics.TURN_METRICS.name())
                || topic.equals(Topics.CALLER_TEXT.name())) {
            return 4 * calls;
        }
        if (topic.equals(Topics.DEAD_LETTERS.name())) {
            return DashboardState.MAX_DEAD_LETTERS;
        }
        return 0;
    }

    /** Seeks each partition assigned for the first time back by its topic's tail depth. */
    private void readBackTails(Collection<TopicPartition> partitions) {
        List<TopicPartition> fresh = partitions.stream().filter(tp -> !seeded.contains(tp) && tailDepth(tp.topic()) > 0).toList();
        seeded.addAll(partitions);
        if (fresh.isEmpty()) {
            return;
        }
        Map<TopicPartition, Long> begin = consumer.beginningOffsets(fresh);
        Map<TopicPartition, Long> end = consumer.endOffsets(fresh);
        for (TopicPartition tp : fresh) {
            long e = end.getOrDefault(tp, 0L);
            long from = Math.max(begin.getOrDefault(tp, 0L), e - tailDepth(tp.topic()));
            if (from < e) {
                historyEnd.put(tp, e);
                consumer.seek(tp, from);
            }
        }
    }

    private boolean isHistory(ConsumerRecord<String, byte[]> r) {
        if (historyEnd.isEmpty()) {
            return false;
        }
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        Long end = historyEnd.get(tp);
        if (end == null) {
            return false;
        }
        if (r.offset() + 1 >= end) {
            historyEnd.remove(tp); // the tail is read: the rest of this partition is live
        }
        return r.offset() < end;
    }

    private void handle(ConsumerRecord<String, byte[]> r) {
        String topic = r.topic();
        if (isHistory(r)) {
            replay(r);
            return;
        }
        metrics.recordRead(topic);
        Object value;
        try {
            value = r.value() == null ? null : deserializers.get(topic).deserialize(topic, r.value());
        } catch (RuntimeException e) {
            metrics.unreadable(topic);
            if (unreadable.incrementAndGet() <= 10 || unreadable.get() % 1000 == 0) {
                LOG.warnf("dashboard consumer: unreadable record %s-%d@%d (%d so far): %s", topic, r.partition(),
                        r.offset(), unreadable.get(), e.getMessage());
            }
            return;
        }
        if (value == null) {
            return; // a tombstone on the compacted transcripts topic
        }
        Map<String, Object> view;
        if (value instanceof TextDelta d) {
            metrics.textDelta(d.getCallId(), d.getTurnId(), d.getAttempt(), d.getLast() || d.getCancelled());
            view = EventViews.text(d);
        } else if (value instanceof CallerText c) {
            metrics.callerText(c);
            view = EventViews.callerText(c, redactCallerText);
        } else if (value instanceof CallEvent e) {
            if (e.getPayload() instanceof CallStarted) {
                metrics.callStarted(e.getCallId());
            } else if (e.getPayload() instanceof CallEnded ended) {
                metrics.callEnded(e.getCallId(), String.valueOf(ended.getReason()));
            } else if (e.getPayload() instanceof BargeIn b && !b.getSpeculative()) {
                metrics.bargeIn();   // a speculative turn's cancel is no barge-in: nothing of it played
            }
            view = EventViews.call(e);
        } else if (value instanceof TurnMetrics m) {
            metrics.turnMetrics(m);
            view = EventViews.metrics(m);
        } else if (value instanceof Transcript t) {
            view = EventViews.transcript(t);
        } else if (value instanceof DeadLetter d) {
            metrics.deadLetter(d.getSourceTopic(), d.getStage());
            view = EventViews.deadLetter(r.key(), d);
        } else {
            return;
        }
        state.applyLive(view, r.timestamp()); // numbered (eventSeq) before it goes out: pages find a lost one by the gap
        publish.accept(view);
    }

    /** A history record: into the dashboard state only; an unreadable one is skipped (it was counted when live). */
    private void replay(ConsumerRecord<String, byte[]> r) {
        Object value;
        try {
            value = r.value() == null ? null : deserializers.get(r.topic()).deserialize(r.topic(), r.value());
        } catch (RuntimeException e) {
            return;
        }
        Map<String, Object> view;
        if (value instanceof CallEvent e) {
            view = EventViews.call(e);
        } else if (value instanceof CallerText c) {
            view = EventViews.callerText(c, redactCallerText);
        } else if (value instanceof TurnMetrics m) {
            view = EventViews.metrics(m);
        } else if (value instanceof Transcript t) {
            view = EventViews.transcript(t);
        } else if (value instanceof DeadLetter d) {
            view = EventViews.deadLetter(r.key(), d);
        } else {
            return;
        }
        historyRecords.incrementAndGet();
        state.apply(view, r.timestamp());
    }

    /** Stops polling and closes the consumer; waits up to 10 s. */
    @Override
    public void close() {
        running = false;
        if (!thread.isAlive()) {
            if (thread.getState() == Thread.State.NEW) {
                consumer.close(Duration.ofSeconds(5));
            }
            return;
        }
        consumer.wakeup();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
