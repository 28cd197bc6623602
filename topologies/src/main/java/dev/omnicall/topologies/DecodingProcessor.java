package dev.omnicall.topologies;

import dev.omnicall.events.DeadLetter;
import dev.omnicall.kafka.DeadLetters;
import dev.omnicall.kafka.Topic;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;

/**
 * First processor behind every source: reads raw bytes, decodes the value, checks the key is the call ID,
 * then hands over to {@link #handle}. Anything that cannot be decoded or processed becomes a DeadLetter with
 * the original bytes and the error, forwarded to the dead-letter sink inside the same transaction, and
 * processing goes on with the next record. A good record of a call that has ended is dropped and counted
 * before it reaches {@link #handle} (see {@link CallActivity}), unless it may still complete the call's transcript
 * ({@link #completesTranscript}) within {@code endedGrace}.
 */
abstract class DecodingProcessor<V extends SpecificRecord> implements Processor<byte[], byte[], String, SpecificRecord> {

    private static final Logger LOG = LoggerFactory.getLogger(DecodingProcessor.class);

    private final Topic<V> topic;
    private final Deserializer<V> deserializer;
    protected final TopologyMetrics metrics;
    protected final ConversationConfig config;
    protected ProcessorContext<String, SpecificRecord> context;
    protected CallActivity calls;
    private Record<byte[], byte[]> current;
    /** What {@link CallActivity#admit} said about the record being handled. */
    protected CallActivity.Admission admission;

    DecodingProcessor(Topic<V> topic, Deserializer<V> deserializer, ConversationConfig config, TopologyMetrics metrics) {
        this.topic = topic;
        this.deserializer = deserializer;
        this.config = config;
        this.metrics = metrics;
    }

    @Override
    public final void init(ProcessorContext<String, SpecificRecord> context) {
        this.context = context;
        this.calls = new CallActivity(context.getStateStore(ConversationTopology.ACTIVITY_STORE), config);
        open();
    }

    /** Looks up stores and schedules punctuators. */
    protected void open() {
    }

    /** The call ID a value belongs to; it must equal the record key. */
    protected abstract String callIdOf(V value);

    protected abstract void handle(String callId, V value, long timestamp);

    /** Whether the value starts a call (the one record that an earlier end of the same call ID does not refuse). */
    protected boolean startsCall(V value) {
        return false;
    }

    /**
     * Whether the value may still complete the transcript of a call that ended less than {@code endedGrace} ago
     * (a late CallerText); such a value is handled with {@link #admission} {@code IN_END_GRACE}.
     */
    protected boolean completesTranscript(V value) {
        return false;
    }

    @Override
    public final void process(Record<byte[], byte[]> record) {
        current = record;
        try {
            V value;
            try {
                value = deserializer.deserialize(topic.name(), record.value());
                if (value == null) {
                    throw new SerializationException("record on " + topic.name() + " has no value");
                }
            } catch (RuntimeException e) {
                deadLetter("deserialize", e);
                return;
            }
            String key = record.key() == null ? null : new String(record.key(), StandardCharsets.UTF_8);
            String callId = callIdOf(value);
            if (key == null || !key.equals(callId)) {
                deadLetter("process", new IllegalArgumentException("record key " + (key == null ? "is missing" : "'" + key + "'")
                        + " but the value belongs to call '" + callId + "'; every topic is keyed by call ID"));
                return;
            }
            admission = calls.admit(callId, startsCall(value), completesTranscript(value), context.currentSystemTimeMs());
            if (admission == CallActivity.Admission.REFUSED) {
                metrics.recordAfterCallEnded(topic.name());
                return;
            }
            if (admission == CallActivity.Admission.IN_END_GRACE) {
                metrics.recordInEndGrace(topic.name());
            }
            try {
                handle(callId, value, record.timestamp());
            } catch (RuntimeException e) {
                deadLetter("process", e);
            }
        } finally {
            current = null;
        }
    }

    /** The wire bytes of the record being handled. */
    protected final byte[] currentValue() {
        return current.value();
    }

    /** The headers of the record being handled; empty outside {@link #process} (a punctuator). */
    protected final Headers currentHeaders() {
        return current == null ? new RecordHeaders() : current.headers();
    }

    /** Sends the record being processed to the dead-letter topic, explaining why. */
    protected final void deadLetter(String stage, Exception error) {
        RecordMetadata meta = context.recordMetadata().orElse(null);
        DeadLetter letter = DeadLetters.of(topic.name(), meta == null ? -1 : meta.partition(),
                meta == null ? -1 : meta.offset(), current.key(), current.value(), stage, error, config.applicationId());
        metrics.deadLetter(topic.name(), stage);
        LOG.warn("dead letter from {} (partition {}, offset {}), stage {}: {}", topic.name(), letter.getPartition(),
                letter.getOffset(), stage, letter.getErrorMessage());
        context.forward(new Record<>(DeadLetters.keyOf(current.key()), letter, current.timestamp()),
                ConversationTopology.DEAD_LETTER_SINK);
    }
}
