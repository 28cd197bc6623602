package dev.omnicall.kafka;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnRequest;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The typed topic registry: the only place a topic name is spelled. Every topic is keyed by call ID and
 * all of them share one partition count, so partition i of each topic holds the same calls.
 */
public final class Topics {

    private static final long HOUR_MS = Duration.ofHours(1).toMillis();
    private static final long DAY_MS = Duration.ofDays(1).toMillis();

    /** CallStarted, CallEnded, BargeIn, Dtmf, PlaybackStarted (bridge). */
    public static final Topic<CallEvent> CALL_EVENTS = new Topic<>("call-events", CallEvent.class, false, 7 * DAY_MS, Topic.DEFAULT_RECORD_BYTES);
    /** Caller audio in 100-200 ms segments (bridge). Short retention: it is raw voice. */
    public static final Topic<AudioSegment> CALLER_AUDIO = new Topic<>("caller-audio", AudioSegment.class, false, HOUR_MS, Topic.DEFAULT_RECORD_BYTES);
    /** One request per caller utterance, with history (streams). */
    public static final Topic<TurnRequest> TURN_REQUESTS = new Topic<>("turn-requests", TurnRequest.class, false, HOUR_MS, Topic.LARGE_RECORD_BYTES);
    /** Streaming assistant text (worker). */
    public static final Topic<TextDelta> RESPONSE_TEXT = new Topic<>("response-text", TextDelta.class, false, 7 * DAY_MS, Topic.DEFAULT_RECORD_BYTES);
    /** Streaming assistant audio, Omega units per chunk (worker). */
    public static final Topic<AudioChunk> RESPONSE_AUDIO = new Topic<>("response-audio", AudioChunk.class, false, HOUR_MS, Topic.DEFAULT_RECORD_BYTES);
    /** What the caller said, one record per turn attempt (worker's Whisper decoder). */
    public static final Topic<CallerText> CALLER_TEXT = new Topic<>("caller-text", CallerText.class, false, 7 * DAY_MS, Topic.DEFAULT_RECORD_BYTES);
    /** Per-call transcript table (streams). */
    public static final Topic<Transcript> TRANSCRIPTS = new Topic<>("transcripts", Transcript.class, true, 0, Topic.DEFAULT_RECORD_BYTES);
    /** One latency breakdown per turn (streams). */
    public static final Topic<TurnMetrics> TURN_METRICS = new Topic<>("turn-metrics", TurnMetrics.class, false, 7 * DAY_MS, Topic.DEFAULT_RECORD_BYTES);
    /** Records that could not be read or processed, with the original bytes and the error (every role). */
    public static final Topic<DeadLetter> DEAD_LETTERS = new Topic<>("dead-letters", DeadLetter.class, false, 14 * DAY_MS, Topic.LARGE_RECORD_BYTES);

    private static final List<Topic<?>> ALL = List.of(CALL_EVENTS, CALLER_AUDIO, TURN_REQUESTS, RESPONSE_TEXT,
            RESPONSE_AUDIO, TRANSCRIPTS, TURN_METRICS, DEAD_LETTERS, CALLER_TEXT); // newest last: fuzz seeds pick a topic by index

    private Topics() {
    }

    public static List<Topic<?>> all() {
        return ALL;
    }

    /**
     * Creates every topic that does not exist yet, all with {@code partitions} partitions. Existing topics
     * are checked: a partition count that differs from the others breaks co-partitioning, so it fails loudly.
     */
    public static void ensureCreated(Admin admin, int partitions, short replicationFactor, Duration timeout) {
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be >= 1, got " + partitions);
        }
        try {
            Set<String> existing = admin.listTopics().names().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            List<NewTopic> missing = new ArrayList<>();
            for (Topic<?> topic : ALL) {
                if (!existing.contains(topic.name())) {
                    missing.add(new NewTopic(topic.name(), partitions, replicationFactor).configs(topic.topicConfigs()));
                }
            }
            if (!missing.isEmpty()) {
                try {
                    admin.createTopics(missing).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
            }
            var descriptions = describeWhenKnown(admin, timeout);
            for (var d : descriptions.values()) {
                if (d.partitions().size() != partitions) {
                    throw new IllegalStateException("topic " + d.name() + " has " + d.partitions().size()
                            + " partitions but the pipeline is configured for " + partitions
                            + "; all call-keyed topics must have the same count");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating topics", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("could not create topics: " + e.getMessage(), e);
        }
    }

    /**
     * Describes every topic, retrying while a topic created a moment ago is not yet in the broker's metadata
     * (UnknownTopicOrPartitionException right after CreateTopics succeeded).
     */
    private static java.util.Map<String, org.apache.kafka.clients.admin.TopicDescription> describeWhenKnown(
            Admin admin, Duration timeout) throws InterruptedException, ExecutionException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                return admin.describeTopics(ALL.stream().map(Topic::name).toList())
                        .allTopicNames().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException)
                        || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(50);
            }
        }
    }
}
