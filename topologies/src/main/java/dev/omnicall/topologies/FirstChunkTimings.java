package dev.omnicall.topologies;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.kafka.Topics;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.streams.processor.api.Record;

/** Turn metrics, worker half: the first AudioChunk of an attempt carries the worker's stamps. */
final class FirstChunkTimings extends DecodingProcessor<AudioChunk> {

    private TurnMetricsBook turnMetrics;
    private SpeculationGate speculation;

    FirstChunkTimings(Deserializer<AudioChunk> deserializer, ConversationConfig config, TopologyMetrics metrics) {
        super(Topics.RESPONSE_AUDIO, deserializer, config, metrics);
    }

    @Override
    protected void open() {
        turnMetrics = new TurnMetricsBook(context.getStateStore(ConversationTopology.METRICS_STORE));
        speculation = new SpeculationGate(context.getStateStore(ConversationTopology.SPECULATION_STORE), metrics);
    }

    @Override
    protected String callIdOf(AudioChunk value) {
        return value.getCallId();
    }

    @Override
    protected void handle(String callId, AudioChunk chunk, long timestamp) {
        if (chunk.getSeq() != 0) {
            return;
        }
        if (speculation.kind(callId, chunk.getTurnId()) == SpeculationGate.Kind.CANCELLED) {
            metrics.increment(TopologyMetrics.RECORDS_OF_CANCELLED_SPECULATION);
            return;                                      // a cancelled speculative turn has no first-audio latency
        }
        turnMetrics.firstChunk(callId, chunk.getTurnId(), chunk.getAttempt(), chunk.getTimings()).map(speculation::account)
                .ifPresent(m -> {
            metrics.increment(TopologyMetrics.TURN_METRICS);
            context.forward(new Record<>(callId, m, timestamp), ConversationTopology.TURN_METRICS_SINK);
        });
    }
}
