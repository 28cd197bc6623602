package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.PythonOracle;
import dev.omnicall.model.io.SafeTensorsFile;
import dev.omnicall.model.io.TorchCheckpoint;
import dev.omnicall.model.io.TorchCheckpointWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The gated fusion and one TTS LM forward (the shared transformer's Qwen2 variation: q/k/v biases, theta 1e6
 * without scaling, eps 1e-6, tied head) against an independent float64 reference written from the spec with
 * Debian PyTorch 1.13 operators (src/test/resources/oracle/omni2/tts_lm.py), on tiny weights in the published
 * names (the Java side reads them from safetensors, the reference from torch.save). Skipped without the oracle.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TtsGoldenTest {
    private static final int PAIRS = 7;

    private NDManager manager;
    private TtsLanguageModel tts;
    private float[] hidden;
    private long[] tokens;
    private TorchCheckpoint oracle;

    @BeforeAll
    void runOracle() throws Exception {
        Assumptions.assumeTrue(PythonOracle.torchAvailable(), "Debian /usr/bin/python3 with torch is not available");
        manager = NDManager.newBaseManager();
        Path tmp = Files.createTempDirectory("tts-golden");
        TinyTts.Weights weights = TinyTts.weights(21, false);
        try (SafeTensorsFile src = SafeTensorsFile.open(weights.writeSafetensors(tmp.resolve("tts.safetensors")))) {
            tts = TtsLanguageModel.load(src, manager, DataType.FLOAT32, TinyTts.config(true), TinyTts.LLM_HIDDEN,
                    TinyTts.vocabulary());
        }
        Path pt = weights.writeTorch(tmp.resolve("tts.pt"));
        SplittableRandom r = new SplittableRandom(9);
        hidden = TinyTts.gaussian(r, PAIRS * TinyTts.LLM_HIDDEN, 1.0);
        tokens = new long[PAIRS];
        float[] tokenValues = new float[PAIRS];
        for (int i = 0; i < PAIRS; i++) {
            tokens[i] = r.nextInt(40);
            tokenValues[i] = tokens[i];
        }
        Path in = tmp.resolve("inputs.pt");
        new TorchCheckpointWriter().put("hidden", new long[] {PAIRS, TinyTts.LLM_HIDDEN}, hidden)
                .put("tokens", new long[] {PAIRS}, tokenValues).write(in, "inputs");
        Path out = tmp.resolve("outputs.pt");
        PythonOracle.runResource("/oracle/omni2/tts_lm.py", pt.toString(), in.toString(), out.toString(),
                String.valueOf(TinyTts.HEADS),
                String.valueOf(TinyTts.KV_HEADS), String.valueOf(TinyTts.THETA), String.valueOf(TinyTts.EPS),
                String.valueOf(tts.vocabulary().sepId()), "true");
        oracle = TorchCheckpoint.open(out, "out");
    }

    @AfterAll
    void close() {
        if (manager != null) {
            manager.close();
        }
    }

    private float[] expected(String name) {
        try (NDArray a = oracle.load(manager, name, DataType.FLOAT32, oracle.info(name).shape())) {
            return a.toFloatArray();
        }
    }

    private NDArray fused(NDManager m) {
        return tts.fuse(m.create(hidden, new Shape(PAIRS, TinyTts.LLM_HIDDEN)), tokens);
    }

    @Test
    void shouldFuseStatesAndTokensAsTheSpecSays() {
        try (NDManager m = manager.newSubManager()) {
            float[] torch = expected("fused");
            float diff = HiftVocoderTest.maxAbsDiff(fused(m).toFloatArray(), torch);
            System.out.printf("fusion vs torch: max abs diff %.3g (rms %.3g)%n", diff, HiftVocoderTest.rms(torch));
            assertThat(diff).isLessThan(1e-5f);
        }
    }

    @Test
    void shouldMatchTheReferenceQwen2ForwardOverFusedRowsAndSep() {
        try (NDManager m = manager.newSubManager(); KvCache cache = tts.lm().newCache(16)) {
            // Given the fused rows and <sep>'s embedding, run from position 0
            NDArray rows = fused(m).concat(tts.lm().embed(new long[] {tts.vocabulary().sepId()}), 0);
            LlamaModel.Output out = tts.lm().forward(rows, cache, keys(PAIRS + 1));
            // Then the final-normed states of every row and the last row's logits equal the reference's
            float[] torchHidden = expected("hidden");
            float[] torchLogits = expected("logits");
            int vocab = TinyTts.VOCAB;
            float[] lastLogits = java.util.Arrays.copyOfRange(torchLogits, PAIRS * vocab, (PAIRS + 1) * vocab);
            float hiddenDiff = HiftVocoderTest.maxAbsDiff(out.hidden().toFloatArray(), torchHidden);
            float logitDiff = HiftVocoderTest.maxAbsDiff(out.lastLogits().toFloatArray(), lastLogits);
            System.out.printf("TTS LM vs torch: states max abs diff %.3g, last logits %.3g (scale %.3g)%n", hiddenDiff,
                    logitDiff, HiftVocoderTest.rms(lastLogits));
            assertThat(hiddenDiff).isLessThan(1e-4f);
            assertThat(logitDiff).isLessThan(1e-4f);
        }
    }

    @Test
    void shouldMatchTheReferenceWhenTheRowsArriveInTwoCachedParts() {
        try (NDManager m = manager.newSubManager(); KvCache cache = tts.lm().newCache(4)) {
            // Given the first 3 rows run, then the other 5 against the cache (as a write after the first one)
            NDArray rows = fused(m).concat(tts.lm().embed(new long[] {tts.vocabulary().sepId()}), 0);
            tts.lm().forward(rows.get("0:3"), cache, keys(3));
            LlamaModel.Output rest = tts.lm().forward(rows.get("3:"), cache, keys(PAIRS + 1 - 3));
            // Then the later rows' states equal the reference's full pass
            float[] torchHidden = expected("hidden");
            float[] tail = java.util.Arrays.copyOfRange(torchHidden, 3 * TinyTts.DIM, torchHidden.length);
            float diff = HiftVocoderTest.maxAbsDiff(rest.hidden().toFloatArray(), tail);
            System.out.printf("TTS LM cached parts vs torch: max abs diff %.3g%n", diff);
            assertThat(diff).isLessThan(1e-4f);
        }
    }

    private static long[] keys(int n) {
        long[] k = new long[n];
        java.util.Arrays.fill(k, -1);
        return k;
    }
}
