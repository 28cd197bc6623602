package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.io.TorchCheckpoint;
import dev.omnicall.model.io.TorchCheckpointWriter;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.UnitVocoder;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Assumptions;

/**
 * The Java blocks against Debian PyTorch 1.13 / torchaudio library operators on the tiny checkpoint's
 * weights (src/test/resources/oracle/golden.py): torch.stft + torchaudio's Slaney filterbank,
 * nn.Conv1d/GELU/MultiheadAttention/LayerNorm for the Whisper encoder, F.conv_transpose1d, and the
 * vocoder from torch._weight_norm and functional convolutions, and the Whisper text decoder from
 * nn.Embedding/MultiheadAttention (causal float mask)/LayerNorm/GELU. Skipped without the oracle.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GoldenOracleTest {
    private Path tmp;
    private final OmniModel model = TinyModels.model();
    private NDManager manager;
    private TorchCheckpoint oracle;
    private float[] audio;
    private float[] ctIn;
    private float[] ctW;
    private float[] ctB;
    private int[] units;
    private float[] decoderInput; // the Java encoder output the decoder attends to
    private long[] frames;
    private long[] decoderTokens; // prompt + the Java transcriber's greedy tokens
    private boolean endedByEndOfText;

    @BeforeAll
    void runOracle() throws Exception {
        Assumptions.assumeTrue(PythonOracle.torchAvailable(), "Debian /usr/bin/python3 with torch is not available");
        manager = model.manager().newSubManager();
        tmp = Files.createTempDirectory("golden");
        SplittableRandom r = new SplittableRandom(8);
        float[] raw = TinyModels.testAudio(1.3, 9);
        audio = Arrays.copyOf(raw, model.frontend().paddedLength(raw.length));
        ctIn = gaussian(r, 1 * 8 * 10);
        ctW = gaussian(r, 8 * 4 * 8);
        ctB = gaussian(r, 4);
        units = r.ints(20, 0, 100).toArray();
        // the oracle encodes the Java log-mel, so the encoder comparison does not inherit frontend error
        float[] mel;
        try (NDArray m = model.frontend().forward(manager, audio)) {
            mel = m.toFloatArray();
        }
        long frames = mel.length / 128;
        // the decoder: the Java encoder output (so encoder error is not inherited) and a greedy Java transcript
        Transcriber transcriber = model.transcriber().orElseThrow();
        long[] sequence;
        try (NDArray xa = model.encodeAudio(audio)) {
            decoderInput = xa.toFloatArray();
            this.frames = xa.getShape().getShape();
            try (Transcription t = transcriber.start(xa, "en", 24)) {
                while (!t.step()) {
                    // greedy to the end
                }
                endedByEndOfText = !t.truncated();
                WhisperTokenizer tok = transcriber.tokenizer();
                long[] prompt = {tok.startOfTranscript(), tok.languageToken("en"), tok.transcribe(), tok.noTimestamps()};
                sequence = java.util.stream.LongStream.concat(Arrays.stream(prompt), Arrays.stream(t.tokenIds()))
                        .toArray();
            }
        }
        decoderTokens = sequence;
        Path in = tmp.resolve("inputs.pt");
        new TorchCheckpointWriter().put("audio", new long[] {audio.length}, audio)
                .put("dec_xa", this.frames, decoderInput)
                .put("dec_tokens", new long[] {decoderTokens.length}, toFloats(decoderTokens))
                .put("mel", new long[] {128, frames}, mel)
                .put("ct_in", new long[] {1, 8, 10}, ctIn).put("ct_w", new long[] {8, 4, 8}, ctW)
                .put("ct_b", new long[] {4}, ctB).put("ct_meta", new long[] {2}, new float[] {4, 2})
                .put("units", new long[] {units.length}, toFloats(units))
                .write(in, "inputs");
        Path script = tmp.resolve("golden.py");
        try (InputStream s = getClass().getResourceAsStream("/oracle/golden.py")) {
            Files.write(script, s.readAllBytes());
        }
        Path out = tmp.resolve("outputs.pt");
        PythonOracle.run(Files.readString(script), TinyModels.checkpointDir().toString(), in.toString(), out.toString());
        oracle = TorchCheckpoint.open(out, "out");
    }

    private NDArray expected(String name) {
        return oracle.load(manager, name, DataType.FLOAT32, oracle.info(name).shape());
    }

    @Test
    void shouldMatchTorchStftAndTorchaudioSlaneyMelForTheLogMel() {
        NDArray java = model.frontend().forward(manager, audio);
        NDArray torch = expected("logmel");
        assertThat(java.getShape()).isEqualTo(torch.getShape());
        assertThat(maxAbsDiff(java, torch)).isLessThan(2e-3f);
    }

    @Test
    void shouldMatchMultiheadAttentionLayerNormAndGeluForTheWhisperEncoder() {
        NDArray mel = oracleInput();
        NDArray java = model.encoder().forward(mel);
        NDArray torch = expected("encoder");
        assertThat(java.getShape()).isEqualTo(torch.getShape());
        assertThat(maxAbsDiff(java, torch)).isLessThan(1e-3f);
    }

    @Test
    void shouldMatchConvTranspose1dWithZeroInsertionAndAFlippedKernel() {
        NDArray x = manager.create(ctIn, new Shape(1, 8, 10));
        NDArray w = manager.create(ctW, new Shape(8, 4, 8));
        NDArray b = manager.create(ctB, new Shape(4));
        NDArray java = Ops.convTranspose1d(x, w, b, 4, 2);
        NDArray torch = expected("convt");
        assertThat(java.getShape()).isEqualTo(torch.getShape());
        assertThat(java.getShape().get(2)).isEqualTo(40);
        assertThat(maxAbsDiff(java, torch)).isLessThan(1e-4f);
    }

    @Test
    void shouldMatchTheFunctionalCodeHiFiGanForDurationsAndWaveform() {
        UnitVocoder.Synthesis java = model.vocoder().synthesize(units);
        float[] torchDurations = expected("durations").toFloatArray();
        assertThat(Arrays.stream(java.durations()).mapToObj(d -> (float) d).toList())
                .containsExactlyElementsOf(toList(torchDurations));
        NDArray torchWave = expected("wave");
        NDArray javaWave = manager.create(java.audio());
        assertThat(javaWave.getShape()).isEqualTo(torchWave.getShape());
        assertThat(maxAbsDiff(javaWave, torchWave)).isLessThan(1e-4f);
    }

    @Test
    void shouldMatchEmbeddingMultiheadAttentionAndLayerNormForTheWhisperDecoderLogits() {
        // Given the prompt and the Java transcriber's greedy tokens, teacher-forced through both decoders
        Transcriber transcriber = model.transcriber().orElseThrow();
        NDArray xa = manager.create(decoderInput, new Shape(frames));
        NDArray java = transcriber.decoder().forward(decoderTokens, xa);
        NDArray torch = expected("dec_logits");
        // Then the logits agree at every position (relative to their scale)
        assertThat(java.getShape()).isEqualTo(torch.getShape());
        float scale = Math.max(1f, torch.abs().max().getFloat());
        System.out.printf("decoder logits vs torch: max abs diff %.3g, largest |logit| %.1f, %d positions%n",
                maxAbsDiff(java, torch), scale, decoderTokens.length);
        assertThat(maxAbsDiff(java, torch) / scale).isLessThan(1e-5f);
        // And torch's logits under the same suppression choose each next Java token (and end-of-text at the end)
        float[][] rows = rows(torch);
        for (int pos = 3; pos < decoderTokens.length; pos++) {
            try (NDArray row = manager.create(rows[pos])) {
                assertThat(transcriber.pick(row, pos == 3)).as("token after position %d", pos)
                        .isEqualTo(pos + 1 < decoderTokens.length ? decoderTokens[pos + 1]
                                : endedByEndOfText ? transcriber.tokenizer().endOfText() : transcriber.pick(row, false));
            }
        }
        assertThat(decoderTokens.length).isGreaterThan(6);
    }

    private static float[][] rows(NDArray matrix) {
        int n = (int) matrix.getShape().get(0);
        int v = (int) matrix.getShape().get(1);
        float[] all = matrix.toFloatArray();
        float[][] out = new float[n][];
        for (int i = 0; i < n; i++) {
            out[i] = Arrays.copyOfRange(all, i * v, (i + 1) * v);
        }
        return out;
    }

    private NDArray oracleInput() {
        try (NDArray m = model.frontend().forward(manager, audio)) {
            return m.duplicate();
        }
    }

    private static float maxAbsDiff(NDArray a, NDArray b) {
        return a.toType(DataType.FLOAT32, false).sub(b).abs().max().getFloat();
    }

    private static float[] gaussian(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    private static float[] toFloats(long[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = v[i];
        }
        return f;
    }

    private static float[] toFloats(int[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = v[i];
        }
        return f;
    }

    private static java.util.List<Float> toList(float[] v) {
        java.util.List<Float> l = new java.util.ArrayList<>();
        for (float f : v) {
            l.add(f);
        }
        return l;
    }
}
