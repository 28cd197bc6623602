package dev.omnicall.worker.engine;

import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.model.TinyCheckpointWriter;
import dev.omnicall.model.TinyCheckpointWriter.EncoderLayout;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.WhisperTokenizer;
import dev.omnicall.model.stream.TranscriptionOptions;
import dev.omnicall.worker.WorkerConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The worker hands its speech-encoder setting to the model loader (`omnicall.model.speech-encoder`), and its caller
 * transcription settings: on with a checkpoint that has a Whisper decoder, off when switched off or when the
 * checkpoint has none (the reply runs as before), a configured language the decoder lacks refused at start-up.
 */
class OmniTurnEngineLoadTest {

    @TempDir
    Path tmp;

    @Test
    void shouldLoadTheWhisperEncoderFromTheConfiguredFileWhenTheShardsLackIt() throws Exception {
        // Given a tiny checkpoint whose encoder is only in an openai-layout file, moved out of the checkpoint
        Path dir = TinyCheckpointWriter.writeIfAbsent(tmp.resolve("ckpt"), 20240906L, EncoderLayout.OPENAI_FILE);
        Path moved = Files.createDirectories(tmp.resolve("whisper")).resolve("large-v3.pt");
        Files.move(dir.resolve(TinyCheckpointWriter.OPENAI_ENCODER_FILE), moved);
        WorkerConfig config = WorkerConfig.defaults(KafkaSettings.of("127.0.0.1:9"), dir).withEncoderPaddedSeconds(0);

        // When the engine loads without and with the setting
        // Then without it the loader names the file it looked for; with it the engine loads and runs
        assertThatThrownBy(() -> OmniTurnEngine.load(config)).hasMessageContaining("large-v3.pt");
        try (OmniTurnEngine engine = OmniTurnEngine.load(config, moved)) {
            assertThat(engine.generator().model().config()).isNotNull();
        }
    }

    @Test
    void shouldTranscribeOnlyWhenSwitchedOnAndTheCheckpointHasADecoder() throws Exception {
        WorkerConfig on = WorkerConfig.defaults(KafkaSettings.of("127.0.0.1:9"), TinyModels.checkpointDir())
                .withEncoderPaddedSeconds(0).withLimits(4, java.time.Duration.ofSeconds(5), 0);
        // Given the tiny checkpoint (a Whisper decoder and its vocabulary): on by default
        try (OmniTurnEngine engine = OmniTurnEngine.load(on)) {
            assertThat(engine.generator().transcribes()).isTrue();
        }
        // Switched off: no transcription, and the model did not even build the decoder
        try (OmniTurnEngine engine = OmniTurnEngine.load(on.withTranscription(TranscriptionOptions.off()))) {
            assertThat(engine.generator().transcribes()).isFalse();
            assertThat(engine.generator().model().transcriber()).isEmpty();
        }
        // A checkpoint without the vocabulary (so no transcriber): runs as before, a turn completes
        Path dir = TinyModels.copyCheckpoint(TinyModels.checkpointDir(), tmp.resolve("no-vocabulary"));
        Files.delete(dir.resolve(WhisperTokenizer.FILE_NAME));
        try (OmniTurnEngine engine = OmniTurnEngine.load(on.withModelDir(dir))) {
            assertThat(engine.generator().transcribes()).isFalse();
            EngineSession s = engine.start(new TurnInput("c", new short[8000], java.util.List.of()), null);
            java.util.List<StepOutput> outs = new java.util.ArrayList<>();
            while (!s.done()) {
                outs.addAll(engine.step(java.util.List.of(s)));
            }
            assertThat(outs).allMatch(o -> o.callerText() == null);
            assertThat(s.callerTextPending()).isFalse();
            s.close();
        }
        // A language the decoder does not know is refused at start-up, naming the key
        assertThatThrownBy(() -> OmniTurnEngine.load(on.withTranscription(new TranscriptionOptions(true, "xx", 16, 2))))
                .hasMessageContaining("omnicall.worker.transcribe.language").hasMessageContaining("'xx'");
    }

    @Test
    void shouldSizeTheKvPoolByTheByteBoundWithASlotPerRunningTurn() {
        // the bound decides, between one slot per running turn and the cap
        assertThat(OmniTurnEngine.poolSlots(10L << 20, 1L << 20, 8, 32)).isEqualTo(10);
        assertThat(OmniTurnEngine.poolSlots(0, 1L << 20, 8, 32)).isEqualTo(8);
        assertThat(OmniTurnEngine.poolSlots(512L << 20, 1L << 20, 8, 32)).isEqualTo(32);
        assertThat(OmniTurnEngine.poolSlots(512L << 20, 1L << 20, 8, 4)).isEqualTo(8);
        // the worker's engine runs its turns in the pool, and a turn completes through it
        WorkerConfig config = WorkerConfig.defaults(KafkaSettings.of("127.0.0.1:9"), TinyModels.checkpointDir())
                .withEncoderPaddedSeconds(0).withLimits(4, java.time.Duration.ofSeconds(5), 0)
                .withTranscription(TranscriptionOptions.off());
        try (OmniTurnEngine engine = OmniTurnEngine.load(config)) {
            dev.omnicall.model.KvPool pool = engine.generator().pool();
            assertThat(pool).isNotNull();
            assertThat(pool.slots()).isEqualTo(config.maxBatch());
            assertThat(engine.generator().ctcPool().slots()).isEqualTo(config.maxBatch());
            EngineSession s = engine.start(new TurnInput("c", new short[8000], java.util.List.of()), null);
            assertThat(pool.running()).isEqualTo(1);
            assertThat(engine.generator().ctcPool().running()).isEqualTo(1);
            while (!s.done()) {
                engine.step(java.util.List.of(s));
            }
            s.close();
            assertThat(pool.running()).isZero();
            assertThat(engine.generator().ctcPool().running()).isZero();
            assertThat(engine.generator().perSequenceTurns()).isZero();
        }
    }

    @Test
    void shouldStartATurnInSlicesToTheSameReplyAsAWholeStart() {
        WorkerConfig config = WorkerConfig.defaults(KafkaSettings.of("127.0.0.1:9"), TinyModels.checkpointDir())
                .withEncoderPaddedSeconds(0).withLimits(6, java.time.Duration.ofSeconds(5), 0)
                .withTranscription(TranscriptionOptions.off());
        short[] pcm = new short[12000];
        for (int i = 0; i < pcm.length; i++) {
            pcm[i] = (short) (3000 * Math.sin(i * 0.03) + 500 * Math.sin(i * 0.31));
        }
        TurnInput input = new TurnInput("c", pcm, java.util.List.of());
        System.setProperty(OmniTurnEngine.PREFILL_SLICE_ROWS, "16");
        try (OmniTurnEngine engine = OmniTurnEngine.load(config)) {
            System.clearProperty(OmniTurnEngine.PREFILL_SLICE_ROWS);
            // Given the whole start, stepped to its end
            EngineSession whole = engine.start(input, null);
            String wholeText = run(engine, whole);
            // When the same turn starts in slices of 16 prompt rows
            TurnEngine.StartingSession starting = engine.begin(input, null);
            int slices = 1;
            while (!starting.ready()) {
                starting.advance();
                slices++;
            }
            // Then it took more than one prefill slice and replies the same
            assertThat(slices).isGreaterThan(2);
            assertThat(run(engine, starting.session())).isEqualTo(wholeText);
            assertThat(engine.generator().pool().running()).isZero();
        } finally {
            System.clearProperty(OmniTurnEngine.PREFILL_SLICE_ROWS);
        }
        assertThat(OmniTurnEngine.sliceRows("auto")).isEqualTo(-1);
        assertThat(OmniTurnEngine.sliceRows("0")).isZero();
        assertThatThrownBy(() -> OmniTurnEngine.sliceRows("-3")).hasMessageContaining(OmniTurnEngine.PREFILL_SLICE_ROWS);
        assertThatThrownBy(() -> OmniTurnEngine.sliceRows("many")).hasMessageContaining("'many'");
    }

    /** Steps the session to its end; its text and audio bytes (as hex lengths and sums), then closes it. */
    private static String run(OmniTurnEngine engine, EngineSession s) {
        StringBuilder text = new StringBuilder();
        long audioBytes = 0;
        long audioSum = 0;
        while (!s.done()) {
            for (StepOutput o : engine.step(java.util.List.of(s))) {
                text.append(o.text());
                for (StepOutput.AudioPiece p : o.audio()) {
                    audioBytes += p.pcm().length;
                    audioSum += java.util.Arrays.hashCode(p.pcm());
                }
            }
        }
        s.close();
        return text + " | " + audioBytes + " bytes, hash " + audioSum;
    }
}
