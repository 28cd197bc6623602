package dev.omnicall.model.omni2;

import static dev.omnicall.model.omni2.CampPlusFixture.VOICE_A;
import static dev.omnicall.model.omni2.CampPlusFixture.VOICE_B;
import static dev.omnicall.model.omni2.CampPlusFixture.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import dev.omnicall.model.PythonOracle;
import dev.omnicall.model.config.Json;
import dev.omnicall.model.io.CheckpointException;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.SafeTensorsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Cosy2Decoder's speaker: the x-vector from a prompt WAV through campplus.onnx (the tiny CAM++-shaped fixture of
 * {@link CampPlusFixture}), the cached file winning, and one clear start-up error per bad input. Tests that need the
 * ONNX fixture skip without Debian PyTorch; the bad-WAV ones do not need it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Cosy2DecoderSpeakerTest {
    private static final long SEED = 5;

    private NDManager manager;
    private Path base; // flow.pt, hift.pt, sizes: copied into each test's decoder directory
    private int dirs;

    @BeforeAll
    void writeTinyDecoder() throws Exception {
        manager = NDManager.newBaseManager();
        base = Files.createTempDirectory("cosy2-speaker");
        Path proto = Files.createDirectories(base.resolve("proto"));
        TinyFlowWriter.write(proto.resolve(Cosy2Decoder.FLOW_FILE), SEED);
        TinyHiftWriter.write(proto.resolve(Cosy2Decoder.HIFT_FILE), SEED);
        Files.writeString(proto.resolve(Cosy2Decoder.SIZES_FILE),
                Json.write(new Cosy2Decoder.Sizes(TinyFlowWriter.ENCODER, TinyFlowWriter.ESTIMATOR)));
    }

    @AfterAll
    void close() {
        manager.close();
    }

    /** A fresh decoder directory: flow.pt, hift.pt, sizes; no speaker yet. */
    private Path decoderDir() throws Exception {
        Path dir = Files.createDirectories(base.resolve("d" + dirs++));
        for (String f : new String[] {Cosy2Decoder.FLOW_FILE, Cosy2Decoder.HIFT_FILE, Cosy2Decoder.SIZES_FILE}) {
            Files.copy(base.resolve("proto").resolve(f), dir.resolve(f));
        }
        return dir;
    }

    private CampPlusFixture fixture() throws Exception {
        Assumptions.assumeTrue(PythonOracle.torchAvailable(), "Debian /usr/bin/python3 with torch is not available");
        return CampPlusFixture.get();
    }

    /** A decoder directory with campplus.onnx and voice A as the default prompt_en.wav. */
    private Path withCampPlus(CampPlusFixture fx) throws Exception {
        Path dir = decoderDir();
        Files.copy(fx.onnx, dir.resolve(CampPlusSpeaker.ONNX_FILE));
        Files.copy(fx.wav(VOICE_A), dir.resolve(Cosy2Decoder.DEFAULT_SPEAKER_WAV));
        return dir;
    }

    private Cosy2Decoder load(Path dir, Path wav) {
        return Cosy2Decoder.load(dir, manager, SourcePins.seeded(1), wav);
    }

    @Test
    void shouldComputeTheXvectorFromTheDefaultPromptWavWithCampplus() throws Exception {
        CampPlusFixture fx = fixture();
        // Given a decoder directory with campplus.onnx and prompt_en.wav but no cached x-vector
        Cosy2Decoder decoder = load(withCampPlus(fx), null);
        // Then its x-vector is CAM++'s on that WAV: torch's within the golden tolerance
        float diff = maxAbsDiff(decoder.xvector(), fx.torch("xvector", VOICE_A));
        System.out.printf("decoder x-vector vs torch on prompt_en.wav: max abs diff %.3g (%s)%n", diff,
                decoder.speakerSource());
        assertThat(diff).isLessThan(CampPlusGoldenTest.FROM_WAV_TOLERANCE);
        assertThat(decoder.xvector()).containsExactly(CampPlusSpeaker.xvector(fx.onnx, fx.wav(VOICE_A)));
        assertThat(decoder.speakerSource()).contains(CampPlusSpeaker.ONNX_FILE).contains(Cosy2Decoder.DEFAULT_SPEAKER_WAV);
    }

    @Test
    void shouldChangeTheFlowsSpeakerInputWithTheVoice() throws Exception {
        CampPlusFixture fx = fixture();
        Path dir = withCampPlus(fx);
        // Given the same decoder directory with voice A (default) and voice B (configured, absolute path)
        Cosy2Decoder a = load(dir, null);
        Cosy2Decoder b = load(dir, fx.wav(VOICE_B));
        try (NDManager scope = manager.newSubManager()) {
            // Then the flow's speaker row and the mel it makes of the same units differ
            float[] spkA = a.flow().speaker(scope, a.xvector()).toFloatArray();
            float[] spkB = b.flow().speaker(scope, b.xvector()).toFloatArray();
            long[] units = {3, 17, 5, 40, 2, 9};
            float[] melA = a.flow().mel(scope, units, a.xvector()).toFloatArray();
            float[] melB = b.flow().mel(scope, units, b.xvector()).toFloatArray();
            System.out.printf("voice A vs B: speaker row max abs diff %.3g, mel %.3g%n", maxAbsDiff(spkA, spkB),
                    maxAbsDiff(melA, melB));
            assertThat(spkA).hasSize(80);
            assertThat(maxAbsDiff(spkA, spkB)).isGreaterThan(1e-2f);
            assertThat(maxAbsDiff(melA, melB)).isGreaterThan(1e-3f);
        }
    }

    @Test
    void shouldHandTheFlowTheSameXvectorAsTheCachedFile() throws Exception {
        CampPlusFixture fx = fixture();
        // Given the x-vector CAM++ computes, cached in another directory without WAV or ONNX
        Cosy2Decoder fromWav = load(withCampPlus(fx), null);
        Path cachedDir = decoderDir();
        new SafeTensorsWriter().putFloats(Cosy2Decoder.XVECTOR_TENSOR, DType.F32, new long[] {1, 192},
                fromWav.xvector()).write(cachedDir.resolve(Cosy2Decoder.XVECTOR_FILE));
        Cosy2Decoder fromCache = load(cachedDir, null);
        // Then both decoders hand the flow the same raw x-vector, so the same speaker row
        assertThat(fromCache.xvector()).containsExactly(fromWav.xvector());
        try (NDManager scope = manager.newSubManager()) {
            assertThat(fromCache.flow().speaker(scope, fromCache.xvector()).toFloatArray())
                    .containsExactly(fromWav.flow().speaker(scope, fromWav.xvector()).toFloatArray());
        }
        assertThat(fromCache.speakerSource()).startsWith("cached");
    }

    @Test
    void shouldLetTheCachedXvectorWinOverAConfiguredWav() throws Exception {
        // Given a cached x-vector and a configured WAV (no campplus.onnx: it is never opened)
        Path dir = decoderDir();
        float[] cached = new float[192];
        for (int i = 0; i < cached.length; i++) {
            cached[i] = (float) Math.sin(i);
        }
        new SafeTensorsWriter().putFloats(Cosy2Decoder.XVECTOR_TENSOR, DType.F32, new long[] {192}, cached)
                .write(dir.resolve(Cosy2Decoder.XVECTOR_FILE));
        Path wav = dir.resolve("voice.wav");
        CampPlusFixture.writeWav(wav, CampPlusFixture.signal(VOICE_B), 16000, 1);
        // Then the cached one is used
        assertThat(load(dir, wav).xvector()).containsExactly(cached);
    }

    @Test
    void shouldReadTheWavFromTheSystemPropertyRelativeToTheDecoderDirectory() throws Exception {
        CampPlusFixture fx = fixture();
        Path dir = withCampPlus(fx);
        Files.createDirectories(dir.resolve("voices"));
        Files.copy(fx.wav(VOICE_B), dir.resolve("voices/b.wav"));
        System.setProperty(Cosy2Decoder.SPEAKER_WAV_KEY, "voices/b.wav");
        try {
            Cosy2Decoder decoder = Cosy2Decoder.load(dir, manager, SourcePins.seeded(1));
            assertThat(maxAbsDiff(decoder.xvector(), fx.torch("xvector", VOICE_B)))
                    .isLessThan(CampPlusGoldenTest.FROM_WAV_TOLERANCE);
        } finally {
            System.clearProperty(Cosy2Decoder.SPEAKER_WAV_KEY);
        }
    }

    // ---- bad input: one clear start-up error naming the file ----

    @Test
    void shouldNameBothWaysWhenTheDirectoryHasNoSpeaker() throws Exception {
        Path dir = decoderDir();
        assertThatThrownBy(() -> load(dir, null)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(Cosy2Decoder.XVECTOR_FILE)
                .hasMessageContaining(dir.resolve(Cosy2Decoder.DEFAULT_SPEAKER_WAV).toString())
                .hasMessageContaining(CampPlusSpeaker.ONNX_FILE).hasMessageContaining(Cosy2Decoder.SPEAKER_WAV_KEY);
    }

    @Test
    void shouldSayAConfiguredWavIsMissing() throws Exception {
        Path dir = decoderDir();
        Path wav = dir.resolve("nobody.wav");
        assertThatThrownBy(() -> load(dir, wav)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(wav.toString()).hasMessageContaining("missing");
    }

    @Test
    void shouldSayAWavIsUnreadable() throws Exception {
        Path dir = decoderDir();
        Path wav = dir.resolve("noise.wav");
        Files.write(wav, "RIFF\0\0\0\0this is not a wave file at all".getBytes());
        assertThatThrownBy(() -> load(dir, wav)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(wav.toString()).hasMessageContaining("unreadable");
    }

    @Test
    void shouldRefuseAStereoWav() throws Exception {
        Path dir = decoderDir();
        Path wav = dir.resolve("stereo.wav");
        CampPlusFixture.writeWav(wav, CampPlusFixture.signal(VOICE_B), 16000, 2);
        assertThatThrownBy(() -> load(dir, wav)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(wav.toString()).hasMessageContaining("2 channels").hasMessageContaining("mono");
    }

    @Test
    void shouldRefuseAWavBelow16kHz() throws Exception {
        // the reference asserts the prompt's rate is above 16 kHz (load_wav only down-samples)
        Path dir = decoderDir();
        Path wav = dir.resolve("narrowband.wav");
        CampPlusFixture.writeWav(wav, CampPlusFixture.signal(VOICE_B), 8000, 1);
        assertThatThrownBy(() -> load(dir, wav)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(wav.toString()).hasMessageContaining("8000").hasMessageContaining("16000 Hz");
    }

    @Test
    void shouldRefuseAPromptShorterThanOneWindow() throws Exception {
        Path dir = decoderDir();
        Path wav = dir.resolve("blip.wav");
        CampPlusFixture.writeWav(wav, CampPlusFixture.voice(300, 16000, 150, 1.0, 8), 16000, 1);
        assertThatThrownBy(() -> load(dir, wav)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(wav.toString()).hasMessageContaining("300 samples")
                .hasMessageContaining("25 ms");
    }

    @Test
    void shouldRefuseA24BitWav() throws Exception {
        Path dir = decoderDir();
        Path wav = dir.resolve("deep.wav");
        byte[] pcm = new byte[3 * 16000];
        javax.sound.sampled.AudioFormat format = new javax.sound.sampled.AudioFormat(16000, 24, 1, true, false);
        try (var in = new javax.sound.sampled.AudioInputStream(new java.io.ByteArrayInputStream(pcm), format, 16000)) {
            javax.sound.sampled.AudioSystem.write(in, javax.sound.sampled.AudioFileFormat.Type.WAVE, wav.toFile());
        }
        assertThatThrownBy(() -> load(dir, wav)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(wav.toString()).hasMessageContaining("24-bit");
    }

    @Test
    void shouldTakeAPromptLaidOutAsLlamaOmni2sPromptEnWav() throws Exception {
        // Given a 22.05 kHz 32-bit float prompt (with a fact chunk) as prompt_en.wav: resampled, then CAM++
        CampPlusFixture fx = fixture();
        Path dir = withCampPlus(fx);
        Files.copy(fx.wav(CampPlusFixture.VOICE_C_22050_FLOAT), dir.resolve(Cosy2Decoder.DEFAULT_SPEAKER_WAV),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        float diff = maxAbsDiff(load(dir, null).xvector(), fx.torch("xvector", CampPlusFixture.VOICE_C_22050_FLOAT));
        assertThat(diff).isLessThan(CampPlusGoldenTest.FROM_WAV_TOLERANCE);
    }

    @Test
    void shouldSayCampplusIsMissingForAGoodWav() throws Exception {
        Path dir = decoderDir();
        Path wav = dir.resolve(Cosy2Decoder.DEFAULT_SPEAKER_WAV);
        CampPlusFixture.writeWav(wav, CampPlusFixture.signal(VOICE_A), 16000, 1);
        assertThatThrownBy(() -> load(dir, null)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(dir.resolve(CampPlusSpeaker.ONNX_FILE).toString()).hasMessageContaining("missing");
    }

    @Test
    void shouldRefuseACampplusWithTheWrongInputShape() throws Exception {
        CampPlusFixture fx = fixture();
        Path dir = decoderDir();
        Files.copy(fx.channelsFirstOnnx, dir.resolve(CampPlusSpeaker.ONNX_FILE));
        Files.copy(fx.wav(VOICE_A), dir.resolve(Cosy2Decoder.DEFAULT_SPEAKER_WAV));
        assertThatThrownBy(() -> load(dir, null)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(dir.resolve(CampPlusSpeaker.ONNX_FILE).toString())
                .hasMessageContaining("[-1, 80, -1]");
    }
}
