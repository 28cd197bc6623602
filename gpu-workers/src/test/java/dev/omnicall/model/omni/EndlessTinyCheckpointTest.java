package dev.omnicall.model.omni;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.io.SafeTensorsFile;
import dev.omnicall.model.io.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The endless tiny checkpoint ({@link TinyCheckpointWriter#writeEndlessIfAbsent}), which the reliability tests give
 * a worker whose turns must still be generating when a call hangs up or a bridge dies: every file but the LLM
 * shard is byte-identical to the plain tiny checkpoint of the seed, the LLM shard differs only in the eos rows of
 * {@code lm_head}, and the greedy reply takes the plain model's tokens until the plain one would end, then goes on
 * to the cap. Real DJL tensors through the real LLM.
 */
class EndlessTinyCheckpointTest {
    private static final long SEED = TinyModels.SEED;
    private static final int CAP = 160;

    private static Path plain() {
        return TinyModels.checkpointDir();
    }

    private static Path endless() {
        return TinyCheckpointWriter.writeEndlessIfAbsent(
                Paths.get("target", "tiny-endless-" + SEED).toAbsolutePath(), SEED);
    }

    @Test
    void shouldDifferFromThePlainCheckpointOnlyInTheEosRowsOfTheLmHead() throws IOException {
        Path a = plain();
        Path b = endless();
        List<Path> files;
        try (Stream<Path> s = Files.walk(a)) {
            files = s.filter(Files::isRegularFile).map(a::relativize)
                    .filter(p -> !p.toString().startsWith(".tiny-")).sorted().toList();
        }
        assertThat(files).isNotEmpty();
        int lmHeads = 0;
        for (Path f : files) {
            assertThat(b.resolve(f)).as("%s in the endless checkpoint", f).isRegularFile();
            byte[] x = Files.readAllBytes(a.resolve(f));
            byte[] y = Files.readAllBytes(b.resolve(f));
            if (!f.toString().endsWith(".safetensors")
                    || !SafeTensorsFile.open(a.resolve(f)).names().contains("lm_head.weight")) {
                assertThat(y).as("%s", f).isEqualTo(x);
                continue;
            }
            lmHeads++;
            assertThat(y).as("%s: same size", f).hasSameSizeAs(x);
            TensorInfo head = SafeTensorsFile.open(a.resolve(f)).info("lm_head.weight");
            long start = head.offset();
            int rowBytes = (int) (head.shape()[1] * 2);
            List<Integer> eos = TinyCheckpointWriter.tinyConfig().eosTokenId();
            for (int i = 0; i < x.length; i++) {
                long row = i < start ? -1 : (i - start) / rowBytes;
                boolean inHead = i >= start && row < head.shape()[0];
                if (inHead && eos.contains((int) row)) {
                    assertThat(y[i]).as("%s byte %d (lm_head row %d, an eos token)", f, i, row).isZero();
                } else if (y[i] != x[i]) {
                    throw new AssertionError(f + " byte " + i + " differs outside the eos rows of lm_head");
                }
            }
            // the plain rows are not zero: the change is real
            boolean plainRowZero = true;
            for (int i = 0; i < rowBytes; i++) {
                plainRowZero &= x[(int) (start + (long) eos.get(0) * rowBytes) + i] == 0;
            }
            assertThat(plainRowZero).as("the plain checkpoint's eos row is zero").isFalse();
        }
        assertThat(lmHeads).as("shards holding lm_head.weight").isEqualTo(1);
    }

    @Test
    void shouldFollowThePlainRepliesAndNeverEndThem() {
        // Given the plain and the endless model of one seed, and caller audio of several kinds
        List<float[]> audios = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            audios.add(TinyModels.testAudio(0.5 + 0.35 * i, 11 + i));
        }
        SplittableRandom r = new SplittableRandom(3);
        for (int k = 0; k < 6; k++) {
            float[] noise = new float[8000 + 4000 * k];
            for (int n = 0; n < noise.length; n++) {
                noise[n] = (float) (0.05 * (k + 1) * r.nextGaussian());
            }
            audios.add(noise);
        }
        OmniModel plain = TinyModels.model();
        int plainEnded = 0;
        try (OmniModel endless = OmniModel.load(endless(), ModelOptions.defaults().withPaddedSeconds(0))) {
            for (float[] audio : audios) {
                // When each answers greedily up to the cap
                List<Long> p = reply(plain, audio, false);
                List<Long> e = reply(endless, audio, true);
                boolean ended = plain.isEos(p.get(p.size() - 1));
                plainEnded += ended ? 1 : 0;
                System.out.printf("%.2f s: plain %d tokens%s, endless %d%n", audio.length / 16000.0, p.size(),
                        ended ? " (ended)" : "", e.size());
                // Then the endless reply runs to the cap without an eos, and is the plain reply until that one ends
                assertThat(e).hasSize(CAP).noneMatch(endless::isEos);
                List<Long> spoken = ended ? p.subList(0, p.size() - 1) : p;
                assertThat(e.subList(0, spoken.size())).isEqualTo(spoken);
            }
        }
        System.out.printf("plain replies that ended inside %d tokens: %d of %d%n", CAP, plainEnded, audios.size());
        // (and the plain model does end some of them inside the cap: what the endless one is for)
        assertThat(plainEnded).as("plain replies that ended inside the cap").isPositive();
    }

    /**
     * The greedy reply, the eos token included when it came; {@code checkEos}: asserts at every step that the eos
     * logits are 0 and below the largest logit.
     */
    private static List<Long> reply(OmniModel model, float[] audio, boolean checkEos) {
        LlamaModel llm = model.llm();
        List<Long> tokens = new ArrayList<>();
        try (NDScope scope = new NDScope(); KvCache cache = llm.newCache(CAP + 64)) {
            scope.suppressNotUsedWarning();
            Prompt prompt = model.prompt(model.encodeSpeech(audio), List.of(), -1);
            NDArray logits = llm.forward(prompt.embeddings(), cache, prompt.keys()).lastLogits();
            while (true) {
                float[] l = logits.toType(DataType.FLOAT32, false).reshape(-1).toFloatArray();
                long token = logits.argMax().toType(DataType.INT64, false).getLong();
                if (checkEos) {
                    float max = Float.NEGATIVE_INFINITY;
                    for (float v : l) {
                        max = Math.max(max, v);
                    }
                    for (int eos : model.config().eosTokenId()) {
                        assertThat(l[eos]).as("logit of eos token %d", eos).isZero();
                    }
                    assertThat(max).isGreaterThan(0f);
                }
                tokens.add(token);
                if (model.isEos(token) || tokens.size() >= CAP) {
                    return tokens;
                }
                logits = llm.forward(llm.embed(new long[] {token}), cache, new long[] {token}).lastLogits();
            }
        }
    }
}
