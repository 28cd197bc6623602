package dev.omnicall.topologies;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnTimings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;

import static org.assertj.core.api.Assertions.assertThat;

class TurnMetricsTopologyTest {

    @RegisterExtension
    final TopologyFixture topology = new TopologyFixture();
    private ConversationDriver d = topology.open(ConversationConfig.defaults());

    private static TurnTimings workerStamps() {
        return TurnTimings.newBuilder().setSpeechEndUs(1_000_000L).setEndOfTurnUs(1_400_000L)
                .setSegmentProducedUs(1_401_000L).setRequestProducedUs(1_420_000L).setRequestConsumedUs(1_422_000L)
                .setInferenceStartUs(1_425_000L)
                .setPrefillDoneUs(1_525_000L).setFirstUnitsUs(1_600_000L).setFirstAudioUs(1_620_000L)
                .setFirstChunkProducedUs(1_621_000L).build();
    }

    private static AudioChunk chunk(int seq, TurnTimings t) {
        return AudioChunk.newBuilder().setCallId("call-1").setTurnId(0).setAttempt(0).setSeq(seq)
                .setPcm(ByteBuffer.allocate(640)).setUnitCount(10).setLast(false).setTimings(t).build();
    }

    @Test
    void shouldEmitOneLatencySplitPerTurnWhenBothHalvesArrive() {
        // Given the worker's first chunk and a later chunk
        d.chunks.pipeInput("call-1", chunk(0, workerStamps()));
        d.chunks.pipeInput("call-1", chunk(1, workerStamps()));
        assertThat(d.turnMetrics.isEmpty()).isTrue();

        // When the bridge reports playback started
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new PlaybackStarted(0, 0, 1_630_000L, 1_650_000L, 0L)));

        // Then one TurnMetrics with every stage
        TurnMetrics m = d.turnMetrics.readValue();
        assertThat(d.turnMetrics.isEmpty()).isTrue();
        assertThat(m.getVadWaitUs()).isEqualTo(400_000L);
        assertThat(m.getBridgeToRequestUs()).isEqualTo(20_000L);
        assertThat(m.getRequestToInferenceUs()).isEqualTo(5_000L);
        assertThat(m.getRequestToWorkerUs()).isEqualTo(2_000L);
        assertThat(m.getWorkerQueueUs()).isEqualTo(3_000L);
        assertThat(m.getEncoderPrefillUs()).isEqualTo(100_000L);
        assertThat(m.getFirstUnitsUs()).isEqualTo(75_000L);
        assertThat(m.getVocoderUs()).isEqualTo(20_000L);
        assertThat(m.getChunkToBridgeUs()).isEqualTo(10_000L);
        assertThat(m.getBridgeToRtpUs()).isEqualTo(20_000L);
        assertThat(m.getFirstAudioLatencyUs()).isEqualTo(650_000L);
    }

    @Test
    void shouldLeaveTheKafkaHopAndQueueSplitNullButKeepRequestToInferenceWhenTheWorkerDidNotStampConsumption() {
        // Given a first chunk from a worker built before TurnTimings.requestConsumedUs
        TurnTimings old = TurnTimings.newBuilder(workerStamps()).setRequestConsumedUs(null).build();
        d.chunks.pipeInput("call-1", chunk(0, old));

        // When the bridge reports playback started
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new PlaybackStarted(0, 0, 1_630_000L, 1_650_000L, 0L)));

        // Then the combined stage is there and the split is null, not zero
        TurnMetrics m = d.turnMetrics.readValue();
        assertThat(m.getRequestToInferenceUs()).isEqualTo(5_000L);
        assertThat(m.getRequestToWorkerUs()).isNull();
        assertThat(m.getWorkerQueueUs()).isNull();
        assertThat(m.getFirstAudioLatencyUs()).isEqualTo(650_000L);
    }

    @Test
    void shouldJoinInEitherOrder() {
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new PlaybackStarted(0, 0, 1_630_000L, 1_650_000L, 0L)));
        d.chunks.pipeInput("call-1", chunk(0, workerStamps()));

        assertThat(d.turnMetrics.readValue().getFirstAudioLatencyUs()).isEqualTo(650_000L);
    }

    @Test
    void shouldFlushAHalfFinishedTurnWithNullStagesWhenTheCallEnds() {
        // Given the caller hung up before the reply was played
        d.chunks.pipeInput("call-1", chunk(0, workerStamps()));

        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));

        TurnMetrics m = d.turnMetrics.readValue();
        assertThat(m.getEncoderPrefillUs()).isEqualTo(100_000L);
        assertThat(m.getBridgeToRtpUs()).isNull();
        assertThat(m.getFirstAudioLatencyUs()).isNull();
    }

    @Test
    void shouldSplitAttemptsOfOneTurn() {
        d.chunks.pipeInput("call-1", chunk(0, workerStamps()));
        d.chunks.pipeInput("call-1", AudioChunk.newBuilder(chunk(0, workerStamps())).setAttempt(1).build());
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new PlaybackStarted(0, 1, 1_630_000L, 1_650_000L, 0L)));

        TurnMetrics m = d.turnMetrics.readValue();
        assertThat(m.getAttempt()).isEqualTo(1);
        assertThat(d.turnMetrics.isEmpty()).isTrue();
    }
}
