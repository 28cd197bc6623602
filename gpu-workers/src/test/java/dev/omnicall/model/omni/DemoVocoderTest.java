package dev.omnicall.model.omni;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.PythonOracle;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.TorchCheckpoint;
import dev.omnicall.model.io.TorchCheckpointWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The demo model's trained vocoder (demo-model/checkpoint/vocoder, written by PyTorch's torch.save from
 * demo-model/train/voice_export.py) through the runtime's own loader and UnitVocoder: it loads with the unit
 * inventory of units.json, turns every answer into speech of about the answer's length, and on one answer
 * gives the same durations and waveform as the trainer's nn.Module (demo-model/train/voice_oracle.py under
 * Debian's PyTorch; skipped cleanly without it). Skipped when the demo checkpoint is not there.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DemoVocoderTest {
    private static final Path DEMO = Path.of("").toAbsolutePath().getParent().resolve("demo-model");
    private static final Path VOCODER_DIR = DEMO.resolve("checkpoint/vocoder");
    private NDManager manager;
    private TorchCheckpoint weights;
    private UnitVocoder vocoder;
    private JsonObject units;

    @BeforeAll
    void load() throws IOException {
        Assumptions.assumeTrue(Files.isRegularFile(DEMO.resolve("checkpoint").resolve(ModelOptions.DEFAULT_VOCODER)),
                "demo-model/checkpoint/vocoder is not there");
        manager = NDManager.newBaseManager(Device.cpu(), Engine.getEngine("PyTorch").getEngineName());
        weights = TorchCheckpoint.open(DEMO.resolve("checkpoint").resolve(ModelOptions.DEFAULT_VOCODER), "generator");
        vocoder = new UnitVocoder(weights, manager,
                VocoderConfig.read(DEMO.resolve("checkpoint").resolve(ModelOptions.DEFAULT_VOCODER_CONFIG)));
        units = JsonParser.parseString(Files.readString(DEMO.resolve("checkpoint/units.json"))).getAsJsonObject();
    }

    @AfterAll
    void close() {
        if (weights != null) {
            weights.close();
        }
        if (manager != null) {
            manager.close();
        }
    }

    @Test
    void shouldLoadTheFp16WeightNormFilesWithTheInventoryOfUnitsJson() {
        assertThat(vocoder.config().numEmbeddings()).isEqualTo(units.get("num_units").getAsInt());
        assertThat(vocoder.hop()).isEqualTo(units.get("hop").getAsInt());
        assertThat(weights.names()).contains("conv_pre.weight_g", "conv_pre.weight_v", "ups.0.weight_v",
                "dur_predictor.proj.weight", "dict.weight");
        for (String name : weights.names()) {
            assertThat(weights.info(name).dtype()).as(name).isEqualTo(DType.F16);
        }
    }

    @Test
    void shouldSpeakEveryAnswerAtAboutItsOwnLengthWithPredictedDurations() {
        for (var e : units.getAsJsonArray("intents")) {
            JsonObject answer = e.getAsJsonObject();
            UnitVocoder.Synthesis s = vocoder.synthesize(ints(answer.getAsJsonArray("units")));
            int frames = s.samplesOf(s.durations().length, 1);
            assertThat(s.audio()).as(answer.get("name").getAsString()).hasSize(frames * vocoder.hop());
            // the duration predictor was trained on these answers: total length within 20 % of the original
            assertThat((double) frames).as(answer.get("name").getAsString())
                    .isBetween(0.8 * answer.get("frames").getAsInt(), 1.2 * answer.get("frames").getAsInt());
            float peak = 0;
            double energy = 0;
            for (float x : s.audio()) {
                peak = Math.max(peak, Math.abs(x));
                energy += x * x;
            }
            assertThat(peak).isBetween(0.05f, 1f);
            assertThat(Math.sqrt(energy / s.audio().length)).isGreaterThan(0.01);
        }
    }

    @Test
    void shouldMatchTheTrainersPyTorchModuleOnAnAnswer() throws Exception {
        Assumptions.assumeTrue(PythonOracle.torchAvailable(), "Debian /usr/bin/python3 with torch is not available");
        JsonObject answer = units.getAsJsonArray("intents").get(0).getAsJsonObject();
        int[] codes = ints(answer.getAsJsonArray("units"));
        Path tmp = Files.createTempDirectory("demo-vocoder");
        Path in = tmp.resolve("units.pt");
        float[] asFloats = new float[codes.length];
        for (int i = 0; i < codes.length; i++) {
            asFloats[i] = codes[i];
        }
        new TorchCheckpointWriter().put("units", new long[] {codes.length}, asFloats).write(in, "inputs");
        Path out = tmp.resolve("out.pt");
        runOracle(VOCODER_DIR.toString(), in.toString(), out.toString());
        UnitVocoder.Synthesis java = vocoder.synthesize(codes);
        try (TorchCheckpoint torch = TorchCheckpoint.open(out, "out");
                NDManager m = manager.newSubManager()) {
            float[] durations = torch.load(m, "durations", ai.djl.ndarray.types.DataType.FLOAT32, codes.length)
                    .toFloatArray();
            for (int i = 0; i < codes.length; i++) {
                assertThat(java.durations()[i]).as("duration of unit " + i).isEqualTo((int) durations[i]);
            }
            float[] wave = torch.load(m, "wave", ai.djl.ndarray.types.DataType.FLOAT32, java.audio().length)
                    .toFloatArray();
            float maxDiff = 0;
            for (int i = 0; i < wave.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(wave[i] - java.audio()[i]));
            }
            assertThat(maxDiff).isLessThan(1e-4f);
        }
    }

    private static int[] ints(JsonArray a) {
        int[] v = new int[a.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = a.get(i).getAsInt();
        }
        return v;
    }

    private static void runOracle(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/python3",
                DEMO.resolve("train/voice_oracle.py").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("voice_oracle.py failed:\n" + output);
        }
    }
}
