package dev.omnicall.topologies;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.Topics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

class UtteranceAssemblyTest {

    private static final int SAMPLES = 1600;  // 100 ms at 16 kHz

    @RegisterExtension
    final TopologyFixture topology = new TopologyFixture();
    private ConversationDriver d = topology.open(ConversationConfig.defaults());

    private static int seqAt(TurnRequest r, int sampleIndex) {
        return r.getAudio().get(sampleIndex * 2);
    }

    @Test
    void shouldEmitTurnRequestWhenUtteranceEnds() {
        // Given three segments of utterance 0, the last one marked end-of-utterance
        d.sendUtterance("call-1", 0, 3, SAMPLES);

        // Then exactly one TurnRequest carries all 300 ms of audio in order, stamped on its way out
        TurnRequest r = d.requests.readValue();
        assertThat(d.requests.isEmpty()).isTrue();
        assertThat(r.getCallId()).isEqualTo("call-1");
        assertThat(r.getTurnId()).isZero();
        assertThat(r.getAudio().remaining()).isEqualTo(3 * SAMPLES * 2);
        assertThat(seqAt(r, 0)).isEqualTo(0);
        assertThat(seqAt(r, SAMPLES)).isEqualTo(1);
        assertThat(seqAt(r, 2 * SAMPLES)).isEqualTo(2);
        assertThat(r.getHistory()).isEmpty();
        assertThat(r.getTimings().getSpeechEndUs()).isEqualTo(5_000L);
        assertThat(r.getTimings().getEndOfTurnUs()).isEqualTo(5_500L);
        assertThat(r.getTimings().getRequestProducedUs()).isNotNull().isGreaterThan(5_600L);
        assertThat(d.deadLetters.isEmpty()).isTrue();
    }

    @Test
    void shouldNotEmitBeforeTheEndOfUtterance() {
        d.audio.pipeInput("call-1", ConversationDriver.segment("call-1", 0, 0, SAMPLES, false));
        d.audio.pipeInput("call-1", ConversationDriver.segment("call-1", 0, 1, SAMPLES, false));

        assertThat(d.requests.isEmpty()).isTrue();
    }

    @Test
    void shouldOrderOutOfOrderSegmentsBySeqAndIgnoreDuplicates() {
        // Given segments arriving 2(end), 0, 0 again, 1
        d.audio.pipeInput("call-1", ConversationDriver.segment("call-1", 0, 2, SAMPLES, true));
        d.audio.pipeInput("call-1", ConversationDriver.segment("call-1", 0, 0, SAMPLES, false));
        d.audio.pipeInput("call-1", ConversationDriver.segment("call-1", 0, 0, SAMPLES, false));
        assertThat(d.requests.isEmpty()).as("seq 1 still missing").isTrue();
        d.audio.pipeInput("call-1", ConversationDriver.segment("call-1", 0, 1, SAMPLES, false));

        // Then one request, audio in seq order, the duplicate counted once
        TurnRequest r = d.requests.readValue();
        assertThat(d.requests.isEmpty()).isTrue();
        assertThat(r.getAudio().remaining()).isEqualTo(3 * SAMPLES * 2);
        assertThat(seqAt(r, 0)).isEqualTo(0);
        assertThat(seqAt(r, SAMPLES)).isEqualTo(1);
        assertThat(seqAt(r, 2 * SAMPLES)).isEqualTo(2);
        assertThat(d.metrics.get(TopologyMetrics.DUPLICATE_SEGMENTS)).isEqualTo(1);
    }

    @Test
    void shouldIgnoreARedeliveredEndSegmentAndDeadLetterSegmentsOfASentUtterance() {
        d.sendUtterance("call-1", 0, 2, SAMPLES);
        d.requests.readValue();

        // When the bridge's producer retries the whole utterance
        d.sendUtterance("call-1", 0, 2, SAMPLES);

        // Then no second request, and the late copies are dead-lettered with the reason
        assertThat(d.requests.isEmpty()).isTrue();
        assertThat(d.deadLetters.readValuesToList()).hasSize(2)
                .allSatisfy(dl -> assertThat(dl.getErrorMessage()).contains("already sent"));
    }

    @Test
    void shouldCapAnOversizeUtteranceAndDeadLetterTheAudioPastTheCap() {
        // Given a 1 s cap and an utterance of 15 segments of 100 ms
        d.close();
        d = topology.open(ConversationConfig.defaults().withMaxUtterance(Duration.ofSeconds(1)));

        d.sendUtterance("call-1", 0, 15, SAMPLES);

        // Then the request carries the first second, and each of the 5 segments past it is a dead letter saying why
        TurnRequest r = d.requests.readValue();
        assertThat(r.getAudio().remaining()).isEqualTo(10 * SAMPLES * 2);
        var letters = d.deadLetters.readValuesToList();
        assertThat(letters).hasSize(5);
        assertThat(letters.get(0).getErrorMessage()).contains("longer than the 1 s cap").contains("seq 10");
        assertThat(letters.get(0).getValue().remaining()).as("original bytes kept").isGreaterThan(SAMPLES * 2);
        assertThat(d.metrics.get(TopologyMetrics.CAPPED_SEGMENTS)).isEqualTo(5);
    }

    @Test
    void shouldDeadLetterCorruptBytesAndKeepProcessing() {
        // Given a record that is not Avro at all, then a good utterance
        d.rawAudio.pipeInput("call-1".getBytes(), "{\"x\":1}".getBytes());
        d.sendUtterance("call-1", 0, 1, SAMPLES);

        // Then the bad record is a dead letter with its bytes and the error, and the good one flows
        DeadLetter dl = d.deadLetters.readValue();
        assertThat(dl.getSourceTopic()).isEqualTo(Topics.CALLER_AUDIO.name());
        assertThat(dl.getStage()).isEqualTo("deserialize");
        assertThat(dl.getErrorMessage()).contains("magic byte 0x7b");
        byte[] original = new byte[dl.getValue().remaining()];
        dl.getValue().get(original);
        assertThat(new String(original)).isEqualTo("{\"x\":1}");
        assertThat(d.requests.readValue().getCallId()).isEqualTo("call-1");
        assertThat(d.metrics.get(TopologyMetrics.DEAD_LETTERS)).isEqualTo(1);
    }

    @Test
    void shouldDeadLetterASegmentWhoseKeyIsNotItsCallId() {
        d.audio.pipeInput("call-2", ConversationDriver.segment("call-1", 0, 0, SAMPLES, true));

        assertThat(d.requests.isEmpty()).isTrue();
        assertThat(d.deadLetters.readValue().getErrorMessage()).contains("record key 'call-2'").contains("'call-1'");
    }

    @Test
    void shouldDeadLetterASegmentAtTheWrongSampleRate() {
        AudioSegment eightK = AudioSegment.newBuilder(ConversationDriver.segment("call-1", 0, 0, SAMPLES, true))
                .setSampleRate(8000).build();

        d.audio.pipeInput("call-1", eightK);

        assertThat(d.deadLetters.readValue().getErrorMessage()).contains("8000 Hz").contains("16000 Hz");
    }

    @Test
    void shouldDeadLetterAnOddNumberOfBytes() {
        AudioSegment odd = AudioSegment.newBuilder(ConversationDriver.segment("call-1", 0, 0, SAMPLES, true))
                .setPcm(ByteBuffer.wrap(new byte[3])).build();

        d.audio.pipeInput("call-1", odd);

        assertThat(d.deadLetters.readValue().getErrorMessage()).contains("not a whole number of 16-bit samples");
    }

    @Test
    void shouldSendAnEndedUtteranceWithoutAMissingSegmentAfterTheGapTimeout() {
        // Given segment 1 of 0..2 never arrives
        d.audio.pipeInput("call-1", ConversationDriver.segment("call-1", 0, 0, SAMPLES, false));
        d.audio.pipeInput("call-1", ConversationDriver.segment("call-1", 0, 2, SAMPLES, true));
        assertThat(d.requests.isEmpty()).isTrue();

        // When the gap timeout (1 s) passes
        d.advanceWallClock(Duration.ofMillis(1500));

        // Then the request goes out with what arrived, and the gap is counted
        TurnRequest r = d.requests.readValue();
        assertThat(r.getAudio().remaining()).isEqualTo(2 * SAMPLES * 2);
        assertThat(d.metrics.get(TopologyMetrics.UTTERANCES_WITH_GAPS)).isEqualTo(1);
    }

    @Test
    void shouldKeepCallsApart() {
        d.audio.pipeInput("call-a", ConversationDriver.segment("call-a", 0, 0, SAMPLES, false));
        d.audio.pipeInput("call-b", ConversationDriver.segment("call-b", 0, 0, SAMPLES, true));
        d.audio.pipeInput("call-a", ConversationDriver.segment("call-a", 0, 1, SAMPLES, true));

        var out = d.requests.readKeyValuesToList();
        assertThat(out).extracting(kv -> kv.key).containsExactly("call-b", "call-a");
        assertThat(out.get(1).value.getAudio().remaining()).isEqualTo(2 * SAMPLES * 2);
    }
}
