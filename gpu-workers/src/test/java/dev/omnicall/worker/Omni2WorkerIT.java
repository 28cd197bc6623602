package dev.omnicall.worker;

import static dev.omnicall.worker.WorkerHarness.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.TextDelta;
import dev.omnicall.kafka.Topics;
import dev.omnicall.model.omni2.TinyOmni2Writer;
import dev.omnicall.model.stream.TranscriptionOptions;
import dev.omnicall.worker.engine.TurnEngine;
import dev.omnicall.worker.engine.TurnEngines;
import dev.omnicall.worker.engine.omni2.Omni2TurnEngine;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The worker serves a LLaMA-Omni2 checkpoint end to end on the real embedded broker: the engine comes from the tiny
 * Omni2 checkpoint's config.json ({@link TurnEngines}), a TurnRequest gets its text deltas and 24 kHz audio chunks.
 */
@Timeout(240)
class Omni2WorkerIT {
    static final long SEED = 20240906L;
    static final Duration WAIT = Duration.ofSeconds(120);

    private static TranscriptionOptions transcriptionOff() {
        TranscriptionOptions d = TranscriptionOptions.defaults();
        return new TranscriptionOptions(false, d.languageOrAuto(), d.maxTokens(), d.tokensPerStep(), d.maxDelay());
    }

    @Test
    void shouldStreamTextAnd24kHzAudioWhenTheModelDirHoldsALlamaOmni2Checkpoint() throws Exception {
        Path dir = TinyOmni2Writer.writeIfAbsent(Paths.get("target", "tiny-omni2-" + SEED).toAbsolutePath(), SEED);
        String before = System.getProperty(Omni2TurnEngine.FINAL_CAP_KEY);
        System.setProperty(Omni2TurnEngine.FINAL_CAP_KEY, "40");
        try (WorkerHarness harness = new WorkerHarness(1)) {
            // Given a worker whose model directory holds the tiny LLaMA-Omni2 checkpoint
            WorkerConfig config = WorkerConfig.defaults(harness.kafka.settings(), dir).withEncoderPaddedSeconds(0)
                    .withLimits(12, Duration.ofSeconds(5), 64L << 20).withIdentity("it-omni2", "it-omni2-workers")
                    .withTranscription(transcriptionOff());
            try (TurnEngine engine = TurnEngines.load(config, null)) {
                assertThat(engine).isInstanceOf(Omni2TurnEngine.class);
                InferenceWorker worker = new InferenceWorker(config, engine, new CountingWorkerMetrics());
                Thread t = new Thread(worker, "it-omni2");
                t.start();
                try {
                    await("partition assignment", WAIT, worker::isAssigned);
                    // When a TurnRequest arrives
                    String callId = WorkerHarness.newCallId();
                    harness.send(Topics.TURN_REQUESTS, callId,
                            WorkerHarness.request(callId, 1, WorkerHarness.utterance(0.8, 2), List.of()));
                    await("the turn's last delta and chunk", WAIT,
                            () -> harness.turnEnded(callId, 1) && harness.audioEnded(callId, 1));
                    // Then text deltas and 24 kHz audio chunks stream, seq contiguous, one last flag each
                    List<TextDelta> texts = harness.texts(callId);
                    List<AudioChunk> chunks = harness.chunks(callId);
                    assertThat(texts).extracting(TextDelta::getSeq)
                            .containsExactlyElementsOf(IntStream.range(0, texts.size()).boxed().toList());
                    assertThat(chunks).extracting(AudioChunk::getSeq)
                            .containsExactlyElementsOf(IntStream.range(0, chunks.size()).boxed().toList());
                    assertThat(texts).filteredOn(TextDelta::getLast).containsExactly(texts.get(texts.size() - 1));
                    assertThat(chunks).filteredOn(AudioChunk::getLast).containsExactly(chunks.get(chunks.size() - 1));
                    assertThat(chunks).allMatch(c -> c.getSampleRate() == 24_000);
                    // And the audio is 960 samples (40 ms) per unit, some of it
                    int bytes = chunks.stream().mapToInt(c -> c.getPcm().remaining()).sum();
                    assertThat(bytes).isPositive();
                    assertThat(bytes % (2 * 960)).isZero();
                } finally {
                    worker.close();
                    t.join(15_000);
                }
            }
        } finally {
            if (before == null) {
                System.clearProperty(Omni2TurnEngine.FINAL_CAP_KEY);
            } else {
                System.setProperty(Omni2TurnEngine.FINAL_CAP_KEY, before);
            }
        }
    }
}
