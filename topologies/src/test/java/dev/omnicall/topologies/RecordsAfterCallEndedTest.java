package dev.omnicall.topologies;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.Dtmf;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.Topics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Records of a call that arrive after its CallEnded (the worker's in-flight replies, a redo attempt after a
 * worker crash, caller audio that lost the race across partitions) must not bring any of its state back:
 * nothing clears a call twice, so what they stored would stay for ever.
 */
class RecordsAfterCallEndedTest {

    private static final int SAMPLES = 1600;

    @RegisterExtension
    final TopologyFixture topology = new TopologyFixture();
    private ConversationDriver d = topology.open(ConversationConfig.defaults());

    /** call-1 starts, its caller says one utterance, the worker answers "Hello", the call ends; returns the transcripts published. */
    private List<Transcript> answeredCallThatEnded() {
        d.events.pipeInput("call-1", ConversationDriver.started("call-1"));
        d.sendUtterance("call-1", 0, 1, SAMPLES);
        d.reply("call-1", 0, 0, "Hello");
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));
        return d.transcripts.readValuesToList();
    }

    private static AudioChunk firstChunk(int attempt) {
        return AudioChunk.newBuilder().setCallId("call-1").setTurnId(0).setAttempt(attempt).setSeq(0)
                .setPcm(ByteBuffer.allocate(640)).setUnitCount(10).setLast(false)
                .setTimings(TurnTimings.newBuilder().setInferenceStartUs(1_000L).setPrefillDoneUs(2_000L).build()).build();
    }

    private static String afterEnded(String topic) {
        return TopologyMetrics.RECORDS_AFTER_CALL_ENDED + "{" + topic + "}";
    }

    @Test
    void shouldNotKeepAPendingTurnMetricWhenTheFirstChunkComesAfterCallEnded() {
        // Given a call whose caller hung up while the worker was still in prefill
        d.sendUtterance("call-1", 0, 1, SAMPLES);
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));

        // When the attempt's first chunk, a redo attempt's first chunk and a PlaybackStarted arrive afterwards
        d.chunks.pipeInput("call-1", firstChunk(0));
        d.chunks.pipeInput("call-1", firstChunk(1));
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new PlaybackStarted(0, 1, 3_000L, 4_000L, 0L)));

        // Then nothing waits in the pending metrics store for a flush that will never come, and all three are counted
        assertThat(d.keysOf(ConversationTopology.METRICS_STORE, "call-1")).isEmpty();
        assertThat(d.turnMetrics.isEmpty()).isTrue();
        assertThat(d.metrics.get(afterEnded(Topics.RESPONSE_AUDIO.name()))).isEqualTo(2);
        assertThat(d.metrics.get(afterEnded(Topics.CALL_EVENTS.name()))).isEqualTo(1);
    }

    @Test
    void shouldNotReopenTheTranscriptWhenADtmfComesAfterCallEnded() {
        // Given a call with one answered turn that ended
        List<Transcript> before = answeredCallThatEnded();
        assertThat(before.get(before.size() - 1).getEnded()).isTrue();

        // When a DTMF digit of that call arrives afterwards
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new Dtmf("7", 100)));

        // Then the transcript kept for the grace period stays ended and without the digit, and no open transcript
        // replaces the final one on the compacted topic
        Transcript kept = d.driver.<String, Transcript>getKeyValueStore(ConversationTopology.TRANSCRIPT_STORE).get("call-1");
        assertThat(kept.getEnded()).isTrue();
        assertThat(kept.getDtmf()).isEmpty();
        assertThat(d.transcripts.readValuesToList()).allSatisfy(t -> assertThat(t.getEnded()).isTrue());
        assertThat(d.metrics.get(afterEnded(Topics.CALL_EVENTS.name()))).isEqualTo(1);
    }

    @Test
    void shouldNotReplaceTheFinalTranscriptWhenCallEndedComesTwice() {
        // Given a call with one answered turn whose transcript went out ended
        answeredCallThatEnded();

        // When a second CallEnded of the same call arrives (a restarted bridge's sweep, a redelivery)
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));

        // Then the compacted topic's last transcript is still the one with the turn: no empty one replaces it
        List<Transcript> after = d.transcripts.readValuesToList();
        assertThat(after).allSatisfy(t -> assertThat(t.getTurns()).extracting(TranscriptTurn::getAssistantText)
                .containsExactly("Hello"));
        assertThat(d.metrics.get(TopologyMetrics.CALLS_CLEARED)).isEqualTo(1);
    }

    @Test
    void shouldNotBufferCallerAudioThatComesAfterCallEnded() {
        // Given a call that ended
        d.events.pipeInput("call-1", ConversationDriver.started("call-1"));
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));

        // When a segment of an utterance that never ends arrives afterwards
        d.audio.pipeInput("call-1", ConversationDriver.segment("call-1", 3, 0, SAMPLES, false));

        // Then neither the segment nor the utterance's progress is kept (the gap timeout only sends ended ones)
        assertThat(d.keysOf(ConversationTopology.SEGMENT_STORE, "call-1")).isEmpty();
        assertThat(d.keysOf(ConversationTopology.PROGRESS_STORE, "call-1")).isEmpty();
        assertThat(d.metrics.get(afterEnded(Topics.CALLER_AUDIO.name()))).isEqualTo(1);
    }

    @Test
    void shouldNotRequestATurnForAnUtteranceThatComesAfterCallEnded() {
        // Given a call that ended
        d.events.pipeInput("call-1", ConversationDriver.started("call-1"));
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));
        d.transcripts.readValuesToList();

        // When a whole utterance arrives afterwards, and (were it requested) the worker's reply to it
        d.sendUtterance("call-1", 3, 2, SAMPLES);
        d.reply("call-1", 3, 0, "Nobody", " listens");

        // Then no inference is asked for, neither the context nor the transcript comes back (once the ended call's
        // grace is over nothing of it is left), and nothing is republished
        assertThat(d.requests.isEmpty()).isTrue();
        assertThat(d.transcripts.isEmpty()).isTrue();
        d.passEndedGrace();
        assertThat(d.keysOf(ConversationTopology.CONTEXT_STORE, "call-1")).isEmpty();
        assertThat(d.keysOf(ConversationTopology.TRANSCRIPT_STORE, "call-1")).isEmpty();
    }

    @Test
    void shouldDropTheWorkersLastDeltasOfAnEndedCallAndCountThem() {
        // Given a reply being generated when the call ends
        d.sendUtterance("call-1", 0, 1, SAMPLES);
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 0, "Let me", false));
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));

        // When the in-flight delta and the cancelled last delta arrive afterwards
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 1, " explain", false));
        d.text.pipeInput("call-1", TextDelta.newBuilder(ConversationDriver.delta("call-1", 0, 0, 2, "", true))
                .setCancelled(true).build());

        // Then no reply is collected and no transcript goes out (what the caller never heard is not written down),
        // they are counted per topic and in all, and after the ended call's grace nothing of it is stored
        assertThat(d.transcripts.readValuesToList()).allSatisfy(t -> assertThat(t.getTurns()).isEmpty());
        assertThat(d.metrics.get(TopologyMetrics.TURNS_COMPLETED)).isZero();
        assertThat(d.metrics.get(afterEnded(Topics.RESPONSE_TEXT.name()))).isEqualTo(2);
        assertThat(d.metrics.get(TopologyMetrics.RECORDS_AFTER_CALL_ENDED)).isEqualTo(2);
        d.passEndedGrace();
        assertThat(d.keysOf(ConversationTopology.CONTEXT_STORE, "call-1")).isEmpty();
        assertThat(d.keysOf(ConversationTopology.TRANSCRIPT_STORE, "call-1")).isEmpty();
    }

    @Test
    void shouldStartAReusedCallIdAfreshWhenCallStartedFollowsItsEnd() {
        // Given a call that ended (call IDs are random UUIDs, but a CallStarted never trails its own CallEnded:
        // both come from one producer on one partition, so a CallStarted after it means the ID was reused)
        d.events.pipeInput("call-1", ConversationDriver.started("call-1"));
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));

        // When the call ID starts again and the caller speaks
        d.events.pipeInput("call-1", ConversationDriver.started("call-1"));
        d.sendUtterance("call-1", 0, 1, SAMPLES);

        // Then it is a live call again: the turn is requested with no history
        assertThat(d.requests.readValue().getHistory()).isEmpty();
        assertThat(d.metrics.get(TopologyMetrics.RECORDS_AFTER_CALL_ENDED)).isZero();
    }
}
