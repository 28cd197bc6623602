package dev.omnicall.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.SampleEvents;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.omni2.Omni2Config;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.model.omni2.TinyOmni2Writer;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.worker.engine.omni2.Omni2TurnEngine;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Paths;
import java.util.List;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * Issue 13, bad input: a LLaMA-Omni2 reply that reaches the speech limit (the flow noise's length, scaled down here)
 * or the TTS cap ends with a final audio chunk and a counted metric, never a failed turn; through the worker's
 * scheduler on the tiny checkpoint.
 */
class Omni2ReplyCutTest {
    private static final TopicPartition TP = new TopicPartition("turn-requests", 0);

    private static Turn turn(String callId) {
        float[] x = TinyModels.testAudio(1.2, 3);
        ByteBuffer pcm = ByteBuffer.allocate(2 * x.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : x) {
            pcm.putShort((short) Math.round(v * 32767));
        }
        pcm.flip();
        TurnRequest r = TurnRequest.newBuilder(SampleEvents.turnRequest(callId)).setTurnId(1).setAudio(pcm)
                .setHistory(List.of()).build();
        return new Turn(r, TurnRequests.toInput(r), TP, 0, callId.getBytes(), new byte[0], 7);
    }

    /** Runs one turn through a scheduler over the tiny Omni2 engine with these limits. */
    private static void run(int maxReplyUnits, int finalCap, CountingWorkerMetrics metrics,
            TurnSchedulerTest.Collected out) {
        try (Omni2Model model = Omni2Model.load(TinyOmni2Writer.writeIfAbsent(
                Paths.get("target", "tiny-omni2-20240906").toAbsolutePath(), 20240906L),
                ModelOptions.defaults().withPaddedSeconds(0))) {
            Omni2TurnEngine engine = new Omni2TurnEngine(model, new Omni2TurnEngine.Options(
                    new TtsSchedule(3, 10, finalCap), TtsSampling.greedy(), 14, maxReplyUnits));
            TurnScheduler s = new TurnScheduler(engine, new ConversationCache(0, metrics), 2, true, "w1", metrics, out);
            s.submit(turn("cut"));
            for (int i = 0; i < 1000 && s.hasWork(); i++) {
                s.runOnce();
            }
        }
    }

    @Test
    void shouldEndWithALastAudioChunkAndCountFlowNoiseWhenAReplyReachesTheSpeechLimit() {
        // Given a speech limit of 15 units (7500 in production; the tiny reply has 10 units before its final write
        // and 13 or more in it) and a final TTS cap that is not reached first
        CountingWorkerMetrics metrics = new CountingWorkerMetrics();
        TurnSchedulerTest.Collected out = new TurnSchedulerTest.Collected();
        // When a turn runs through the worker's scheduler
        run(15, 40, metrics, out);
        // Then it completes (no failure, no dead letter) with 15 units of 24 kHz audio, the last chunk flagged last
        assertThat(out.finished).containsExactly("cut/1:COMPLETED");
        assertThat(metrics.deadLettersTotal()).isZero();
        List<AudioChunk> chunks = out.chunks("cut");
        assertThat(chunks).filteredOn(AudioChunk::getLast).containsExactly(chunks.get(chunks.size() - 1));
        int bytes = chunks.stream().mapToInt(c -> c.getPcm().remaining()).sum();
        assertThat(bytes).isEqualTo(2 * 960 * 15);
        assertThat(chunks.get(chunks.size() - 1).getPcm().remaining()).isPositive();
        // And the cut is counted once, by its reason
        assertThat(metrics.repliesCut("flow-noise")).isEqualTo(1);
        assertThat(metrics.repliesCut("tts-cap")).isZero();
    }

    @Test
    void shouldCountNoCutWhenTheTtsLmEndsTheReplyItself() {
        // Given the default speech limit and the published final cap (the tiny TTS LM writes its end well before)
        CountingWorkerMetrics metrics = new CountingWorkerMetrics();
        TurnSchedulerTest.Collected out = new TurnSchedulerTest.Collected();
        run(Omni2TurnEngine.Options.FLOW_NOISE_UNITS, Omni2Config.FINAL_TTS_CAP, metrics, out);
        // Then the turn completes with its last chunk flagged and carrying audio, 960 samples a unit, nothing counted
        assertThat(out.finished).containsExactly("cut/1:COMPLETED");
        List<AudioChunk> chunks = out.chunks("cut");
        assertThat(chunks).filteredOn(AudioChunk::getLast).containsExactly(chunks.get(chunks.size() - 1));
        assertThat(chunks.get(chunks.size() - 1).getPcm().remaining()).isPositive();
        int bytes = chunks.stream().mapToInt(c -> c.getPcm().remaining()).sum();
        assertThat(bytes % (2 * 960)).isZero();
        assertThat(bytes / (2 * 960)).isGreaterThan(10).isLessThan(10 + 40);
        assertThat(metrics.repliesCut("tts-cap")).isZero();
        assertThat(metrics.repliesCut("flow-noise")).isZero();
    }

    @Test
    void shouldCountTtsCapWhenTheFinalWriteReachesItsCap() {
        // Given the default speech limit and a final TTS cap of 5 units
        CountingWorkerMetrics metrics = new CountingWorkerMetrics();
        TurnSchedulerTest.Collected out = new TurnSchedulerTest.Collected();
        run(Omni2TurnEngine.Options.FLOW_NOISE_UNITS, 5, metrics, out);
        // Then the turn completes with its last chunk, and the cut is counted as tts-cap
        assertThat(out.finished).containsExactly("cut/1:COMPLETED");
        List<AudioChunk> chunks = out.chunks("cut");
        assertThat(chunks).filteredOn(AudioChunk::getLast).containsExactly(chunks.get(chunks.size() - 1));
        assertThat(metrics.repliesCut("tts-cap")).isEqualTo(1);
        assertThat(metrics.repliesCut("flow-noise")).isZero();
    }
}
