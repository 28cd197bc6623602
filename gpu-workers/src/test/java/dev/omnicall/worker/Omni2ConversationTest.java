package dev.omnicall.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.SampleEvents;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.model.omni2.TinyOmni2Writer;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.worker.engine.ConversationSnapshot;
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.StepOutput;
import dev.omnicall.worker.engine.TurnEngine;
import dev.omnicall.worker.engine.TurnInput;
import dev.omnicall.worker.engine.omni2.Omni2TurnEngine;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Issue 13 item 6 through the worker's scheduler and its {@link ConversationCache}: a call's second LLaMA-Omni2 turn
 * starts on the first turn's kept cache when the call stayed on this worker, cold (the history's audio from the
 * TurnRequest encoded again) on a worker that kept nothing, and both answer the same text and audio.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Omni2ConversationTest {
    private static final TopicPartition TP = new TopicPartition("turn-requests", 0);

    private Omni2Model model;

    @BeforeAll
    void load() {
        model = Omni2Model.load(TinyOmni2Writer.writeIfAbsent(Paths.get("target", "tiny-omni2-20240906")
                .toAbsolutePath(), 20240906L), ModelOptions.defaults().withPaddedSeconds(0));
    }

    @AfterAll
    void close() {
        model.close();
    }

    /** The Omni2 engine, recording whether each started session reused a kept cache. */
    private final class Recording implements TurnEngine {
        final Omni2TurnEngine engine = new Omni2TurnEngine(model, new Omni2TurnEngine.Options(
                new TtsSchedule(3, 10, 10), TtsSampling.greedy(), 8));
        final List<Boolean> reused = new ArrayList<>();

        @Override
        public EngineSession start(TurnInput input, ConversationSnapshot reuse) {
            EngineSession s = engine.start(input, reuse);
            reused.add(s.reusedSnapshot());
            return s;
        }

        @Override
        public List<StepOutput> step(List<EngineSession> batch) {
            return engine.step(batch);
        }

        @Override
        public void close() {
            engine.close();
        }
    }

    private static ByteBuffer pcm(double seconds, long seed) {
        float[] x = TinyModels.testAudio(seconds, seed);
        ByteBuffer b = ByteBuffer.allocate(2 * x.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : x) {
            b.putShort((short) Math.round(v * 32767));
        }
        b.flip();
        return b;
    }

    private static Turn turn(int turnId, ByteBuffer audio, List<ConversationTurn> history, long offset) {
        TurnRequest r = TurnRequest.newBuilder(SampleEvents.turnRequest("call")).setTurnId(turnId)
                .setAudio(audio.duplicate()).setHistory(history).build();
        return new Turn(r, TurnRequests.toInput(r), TP, offset, "call".getBytes(), new byte[0], 7);
    }

    private static void drain(TurnScheduler s) {
        for (int i = 0; i < 1000 && s.hasWork(); i++) {
            s.runOnce();
        }
    }

    private static String text(TurnSchedulerTest.Collected out, int turnId) {
        StringBuilder b = new StringBuilder();
        out.texts("call").stream().filter(t -> t.getTurnId() == turnId).map(TextDelta::getText).forEach(b::append);
        return b.toString();
    }

    private static byte[] audio(TurnSchedulerTest.Collected out, int turnId) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (AudioChunk c : out.chunks("call")) {
            if (c.getTurnId() == turnId) {
                ByteBuffer p = c.getPcm().duplicate();
                byte[] bytes = new byte[p.remaining()];
                p.get(bytes);
                b.writeBytes(bytes);
            }
        }
        return b.toByteArray();
    }

    @Test
    void shouldStartTurnTwoOnTheKeptCacheAndAnswerAsAWorkerThatKeptNothing() {
        ByteBuffer audio1 = pcm(1.2, 3);
        ByteBuffer audio2 = pcm(0.9, 11);
        // Given a worker that keeps calls' caches and answered turn 1
        CountingWorkerMetrics metrics = new CountingWorkerMetrics();
        TurnSchedulerTest.Collected stayed = new TurnSchedulerTest.Collected();
        Recording engine = new Recording();
        TurnScheduler s = new TurnScheduler(engine, new ConversationCache(1L << 30, metrics), 2, true, "w1",
                metrics, stayed);
        s.submit(turn(1, audio1, List.of(), 0));
        drain(s);
        List<ConversationTurn> history = List.of(ConversationTurn.newBuilder().setTurnId(1).setUserAudio(audio1
                .duplicate()).setAssistantText(text(stayed, 1)).build());
        // When turn 2 comes with turn 1 in its history (audio and reply) to that worker, and to one that kept nothing
        s.submit(turn(2, audio2, history, 1));
        drain(s);
        TurnSchedulerTest.Collected moved = new TurnSchedulerTest.Collected();
        Recording cold = new Recording();
        TurnScheduler other = new TurnScheduler(cold, new ConversationCache(0, new CountingWorkerMetrics()), 2, true,
                "w2", new CountingWorkerMetrics(), moved);
        other.submit(turn(2, audio2, history, 1));
        drain(other);
        // Then the staying call's turn 2 found and reused the kept cache, the moved one started cold
        assertThat(metrics.kvHits()).isEqualTo(1);
        assertThat(engine.reused).containsExactly(false, true);
        assertThat(cold.reused).containsExactly(false);
        assertThat(stayed.finished).containsExactly("call/1:COMPLETED", "call/2:COMPLETED");
        assertThat(moved.finished).containsExactly("call/2:COMPLETED");
        // And both answered turn 2 alike, text and 24 kHz audio
        assertThat(text(stayed, 2)).isEqualTo(text(moved, 2));
        assertThat(audio(stayed, 2)).isNotEmpty().isEqualTo(audio(moved, 2));
    }
}
