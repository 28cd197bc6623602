package dev.omnicall.worker.engine;

import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.WhisperTokenizer;
import dev.omnicall.model.omni.TinyCheckpointWriter.EncoderLayout;
import dev.omnicall.model.omni.TinyCheckpointWriter;
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
    void shouldSizeTheKvPoolWithinTheByteBoundWithASlotPerRunningTurn() {
        // the bound decides, between one slot per running turn and the cap
        long mib = 1L << 20;
        assertThat(OmniTurnEngine.poolSizing(10 * mib, 512, 2048, 8, 32)).isEqualTo(new OmniTurnEngine.PoolSizing(10, 2048));
        assertThat(OmniTurnEngine.poolSizing(512 * mib, 512, 2048, 8, 32)).isEqualTo(new OmniTurnEngine.PoolSizing(32, 2048));
        assertThat(OmniTurnEngine.poolSizing(512 * mib, 512, 2048, 8, 4)).isEqualTo(new OmniTurnEngine.PoolSizing(8, 2048));
        // a bound that holds fewer than max-batch full slots shortens the slots instead of overrunning the bound
        assertThat(OmniTurnEngine.poolSizing(4 * mib, 512, 2048, 8, 32)).isEqualTo(new OmniTurnEngine.PoolSizing(8, 1024));
        // 256 positions per running turn is the least; one byte less is refused, naming the key and what would do
        assertThat(OmniTurnEngine.poolSizing(mib, 512, 2048, 8, 32)).isEqualTo(new OmniTurnEngine.PoolSizing(8, 256));
        assertThatThrownBy(() -> OmniTurnEngine.poolSizing(mib - 1, 512, 2048, 8, 32))
                .hasMessageContaining("kv-cache-bytes 1048575").hasMessageContaining("max-batch 8")
                .hasMessageContaining("raise kv-cache-bytes to " + 8 * 512 * 256);
        // the invariant over a sweep: never more bytes than the bound, always a slot per running turn
        for (long bound = 1; bound <= 64 * mib; bound = bound * 3 + 7) {
            for (int batch : new int[] {1, 3, 8, 64}) {
                for (long wanted : new long[] {100, 2048}) {
                    try {
                        OmniTurnEngine.PoolSizing p = OmniTurnEngine.poolSizing(bound, 4096, wanted, batch, 4 * batch);
                        assertThat(p.slots() * p.positions() * 4096).as("bound %d batch %d", bound, batch)
                                .isLessThanOrEqualTo(bound);
                        assertThat(p.slots()).isGreaterThanOrEqualTo(batch);
                        assertThat(p.positions()).isLessThanOrEqualTo(wanted)
                                .isGreaterThanOrEqualTo(Math.min(OmniTurnEngine.MIN_POOL_POSITIONS, wanted));
                    } catch (IllegalArgumentException refused) {
                        assertThat(bound).isLessThan(batch * 4096L * Math.min(OmniTurnEngine.MIN_POOL_POSITIONS, wanted));
                    }
                }
            }
        }
        // the worker's engine: its pool within kv-cache-bytes, and a turn completes through it
        WorkerConfig base = tinyWorker();
        long perPosition;
        long ctcBytes;
        try (OmniTurnEngine engine = OmniTurnEngine.load(base)) {
            perPosition = engine.generator().model().llm().poolSlotBytes(1);
            // the CTC pool: a slot per running turn, each for a typical reply (64 tokens, here all of max-new-tokens 4)
            ctcBytes = engine.generator().ctcPool().deviceBytes();
            assertThat(ctcBytes).isEqualTo(base.maxBatch()
                    * engine.generator().model().ctc().poolSlotBytes((base.maxNewTokens() + 1L) * 25));
            assertThat(engine.generator().pool().deviceBytes() + ctcBytes).isLessThanOrEqualTo(base.kvCacheBytes());
        }
        // CTC slots of 2 reply tokens (-Domnicall.worker.ctc-pool-tokens=2): (2 + 1) x λ frames each, the rest to the LLM
        System.setProperty(OmniTurnEngine.CTC_POOL_TOKENS, "2");
        try (OmniTurnEngine engine = OmniTurnEngine.load(base)) {
            assertThat(engine.generator().ctcPool().capacity()).isEqualTo(3 * 25);
            assertThat(engine.generator().ctcPool().deviceBytes()).isLessThan(ctcBytes);
            EngineSession s = engine.start(new TurnInput("c", new short[8000], java.util.List.of()), null);
            while (!s.done()) {
                engine.step(java.util.List.of(s));
            }
            s.close();
            assertThat(engine.generator().ctcPool().running()).isZero();
        } finally {
            System.clearProperty(OmniTurnEngine.CTC_POOL_TOKENS);
        }
        // a bound of the CTC pool + 300 positions per running turn: max-batch slots of 300 positions, not 2048
        WorkerConfig config = base.withLimits(4, java.time.Duration.ofSeconds(5),
                ctcBytes + base.maxBatch() * perPosition * 300);
        try (OmniTurnEngine engine = OmniTurnEngine.load(config)) {
            dev.omnicall.model.KvPool pool = engine.generator().pool();
            assertThat(pool).isNotNull();
            assertThat(pool.slots()).isEqualTo(config.maxBatch());
            assertThat(pool.capacity()).isEqualTo(300);
            assertThat(pool.deviceBytes() + engine.generator().ctcPool().deviceBytes()).isEqualTo(config.kvCacheBytes());
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
        // kv-cache-bytes 0: no pool (the per-sequence path), and a bound too small is refused at load
        try (OmniTurnEngine engine = OmniTurnEngine.load(base.withLimits(4, java.time.Duration.ofSeconds(5), 0))) {
            assertThat(engine.generator().pool()).isNull();
        }
        assertThatThrownBy(() -> OmniTurnEngine.load(base.withLimits(4, java.time.Duration.ofSeconds(5), perPosition)))
                .hasMessageContaining("kv-cache-bytes " + perPosition);
    }

    @Test
    void shouldKeepTheLlmAndCtcPoolsTogetherWithinKvCacheBytes() {
        // Given the tiny model with max-batch 8 and replies of 4 tokens
        long mib = 1L << 20;
        WorkerConfig base = tinyWorker();
        long perPosition;
        long ctcBytes;
        try (OmniTurnEngine engine = OmniTurnEngine.load(base)) {
            perPosition = engine.generator().model().llm().poolSlotBytes(1);
            ctcBytes = engine.generator().ctcPool().deviceBytes();
        }
        // When the bound holds the CTC pool and exactly 256 positions per running turn
        long least = ctcBytes + base.maxBatch() * perPosition * OmniTurnEngine.MIN_POOL_POSITIONS;
        // Then both pools fill it to the byte, and one byte less is refused naming the key, the CTC share and the bound
        // that would do (before, the LLM pool alone took the bound, the CTC pool came on top of it)
        try (OmniTurnEngine engine = OmniTurnEngine.load(base.withLimits(4, java.time.Duration.ofSeconds(5), least))) {
            assertThat(engine.generator().pool().capacity()).isEqualTo(OmniTurnEngine.MIN_POOL_POSITIONS);
            assertThat(engine.generator().pool().deviceBytes() + engine.generator().ctcPool().deviceBytes())
                    .isEqualTo(least);
        }
        assertThatThrownBy(() -> OmniTurnEngine.load(base.withLimits(4, java.time.Duration.ofSeconds(5), least - 1)))
                .hasMessageContaining("kv-cache-bytes " + (least - 1))
                .hasMessageContaining("after " + ctcBytes + " bytes of the CTC unit decoder's pool")
                .hasMessageContaining("raise kv-cache-bytes to " + least);
        // the sizing alone: the reserved bytes come off the bound first
        assertThat(OmniTurnEngine.poolSizing(10 * mib, 2 * mib, 512, 2048, 8, 32))
                .isEqualTo(new OmniTurnEngine.PoolSizing(8, 2048));
        assertThat(OmniTurnEngine.poolSizing(10 * mib, 6 * mib, 512, 2048, 8, 32))
                .isEqualTo(new OmniTurnEngine.PoolSizing(8, 1024));
        assertThat(OmniTurnEngine.poolSizing(3 * mib, 2 * mib, 512, 2048, 8, 32))
                .isEqualTo(new OmniTurnEngine.PoolSizing(8, 256));
        assertThatThrownBy(() -> OmniTurnEngine.poolSizing(2 * mib, 3 * mib, 512, 2048, 8, 32))
                .hasMessageContaining("holds 0 KV positions");
        for (long bound = 1; bound <= 64 * mib; bound = bound * 3 + 7) {
            for (long reserved : new long[] {0, 5000, bound / 3, bound}) {
                for (int batch : new int[] {1, 8, 64}) {
                    try {
                        OmniTurnEngine.PoolSizing p = OmniTurnEngine.poolSizing(bound, reserved, 4096, 2048, batch,
                                4 * batch);
                        assertThat(reserved + p.slots() * p.positions() * 4096).as("bound %d reserved %d", bound, reserved)
                                .isLessThanOrEqualTo(bound);
                        assertThat(p.slots()).isGreaterThanOrEqualTo(batch);
                        assertThat(p.positions()).isGreaterThanOrEqualTo(OmniTurnEngine.MIN_POOL_POSITIONS);
                    } catch (IllegalArgumentException refused) {
                        assertThat(bound).isLessThan(reserved + batch * 4096L * OmniTurnEngine.MIN_POOL_POSITIONS);
                    }
                }
            }
        }
    }

    @Test
    void shouldStartATurnInSlicesToTheSameReplyAsAWholeStart() {
        WorkerConfig config = WorkerConfig.defaults(KafkaSettings.of("127.0.0.1:9"), TinyModels.checkpointDir())
                .withEncoderPaddedSeconds(0).withLimits(6, java.time.Duration.ofSeconds(5), 64L << 20)
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

    /** The tiny model's worker: natural-length encoder input, replies of 4 tokens, a 64 MiB bound on its KV memory. */
    private static WorkerConfig tinyWorker() {
        return WorkerConfig.defaults(KafkaSettings.of("127.0.0.1:9"), TinyModels.checkpointDir())
                .withEncoderPaddedSeconds(0).withLimits(4, java.time.Duration.ofSeconds(5), 64L << 20)
                .withTranscription(TranscriptionOptions.off());
    }
}
