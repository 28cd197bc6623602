package dev.omnicall.model.tools;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.io.SafeTensorsFile;
import dev.omnicall.model.omni2.FlowMatching;
import dev.omnicall.model.omni2.HiftVocoder;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.model.omni2.TinyOmni2Writer;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Issue 13 item 8: {@link Omni2DumpStages} on the tiny LLaMA-Omni2 checkpoint writes every stage, shapes agree
 * with each other, and each stage run again from the dumped previous-stage tensor gives the dumped next one.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Omni2DumpStagesTest {
    private static final int MAX_TOKENS = 8;
    private static final int FINAL_CAP = 20;
    /** The same code on the same float32 inputs: only the order of float operations may differ. */
    private static final double TOLERANCE = 1e-5;

    private Path dir;
    private Path wav;
    private Omni2Model model;
    private SafeTensorsFile dump;
    private NDManager m;

    @BeforeAll
    void dumpOnce() throws Exception {
        dir = TinyOmni2Writer.writeIfAbsent(Paths.get("target", "tiny-omni2-20240906").toAbsolutePath(), 20240906L);
        wav = Paths.get("target", "omni2-dump-input.wav").toAbsolutePath();
        writeWav(wav, TinyModels.testAudio(1.2, 3));
        Path out = Paths.get("target", "omni2-stages.safetensors").toAbsolutePath();
        Files.deleteIfExists(out);
        Omni2DumpStages.main(new String[] {"--checkpoint", dir.toString(), "--wav", wav.toString(), "--out",
                out.toString(), "--max-tokens", Integer.toString(MAX_TOKENS), "--final-cap",
                Integer.toString(FINAL_CAP), "--padded-seconds", "0"});
        dump = SafeTensorsFile.open(out);
        model = Omni2Model.load(dir, ModelOptions.defaults().withPaddedSeconds(0));
        m = model.manager().newSubManager();
    }

    @AfterAll
    void close() {
        m.close();
        dump.close();
        model.close();
    }

    private static void writeWav(Path file, float[] x) throws Exception {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(44 + 2 * x.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.put("RIFF".getBytes()).putInt(36 + 2 * x.length).put("WAVE".getBytes()).put("fmt ".getBytes()).putInt(16)
                .putShort((short) 1).putShort((short) 1).putInt(16000).putInt(32000).putShort((short) 2)
                .putShort((short) 16).put("data".getBytes()).putInt(2 * x.length);
        for (float v : x) {
            b.putShort((short) Math.round(v * 32767));
        }
        Files.write(file, b.array());
    }

    private long[] shape(String name) {
        return dump.info(name).shape();
    }

    private NDArray floats(String name) {
        return dump.load(m, name, DataType.FLOAT32, shape(name));
    }

    private long[] longs(String name) {
        return dump.loadAsIs(m, name).toLongArray();
    }

    private static double maxDiff(NDArray a, NDArray b) {
        assertThat(a.getShape()).isEqualTo(b.getShape());
        return a.toType(DataType.FLOAT32, false).sub(b.toType(DataType.FLOAT32, false)).abs().max().getFloat();
    }

    @Test
    void shouldWriteEveryStageWithShapesThatAgree() {
        assertThat(dump.names()).containsExactlyInAnyOrderElementsOf(Omni2DumpStages.NAMES);
        long frames = shape("log_mel")[1];
        assertThat(shape("log_mel")[0]).isEqualTo(128);
        assertThat(shape("encoder_out")[0]).isEqualTo(frames / 2);
        long rows = shape("encoder_out")[0] / 5;
        assertThat(shape("adaptor_out")).containsExactly(rows, model.config().hiddenSize());
        assertThat(java.util.Arrays.stream(longs("prompt_keys")).filter(k -> k < 0).count()).isEqualTo(rows);
        long n = shape("token_ids")[0];
        assertThat(n).isBetween(1L, (long) MAX_TOKENS);
        assertThat(shape("llm_hidden")).containsExactly(n, model.config().hiddenSize());
        assertThat(shape("tts_input_embeds")).containsExactly(n, model.tts().lm().spec().hiddenSize());
        assertThat(java.util.Arrays.stream(longs("tts_context_keys")).filter(k -> k < 0).count()).isEqualTo(n);
        long units = shape("unit_ids")[0];
        assertThat(units).isPositive();
        assertThat(shape("spk_embedding")).containsExactly(model.decoder().xvector().length);
        for (String flow : List.of("flow_noise", "flow_mu", "flow_mel")) {
            assertThat(shape(flow)).as(flow).containsExactly(80, 2 * units);
        }
        assertThat(shape("hift_f0")).containsExactly(2 * units);
        assertThat(shape("hift_source")).containsExactly(960 * units);
        assertThat(shape("waveform_24k")).containsExactly(960 * units);
        System.out.printf("dump: %d mel frames, %d speech rows, %d tokens, %d units%n", frames, rows, n, units);
    }

    @Test
    void shouldReproduceEachSpeechStageFromThePreviousStagesTensor() throws Exception {
        assertThat(maxDiff(model.encoder().forward(floats("log_mel")), floats("encoder_out"))).isLessThan(TOLERANCE);
        assertThat(maxDiff(model.adaptor().forward(floats("encoder_out")), floats("adaptor_out")))
                .isLessThan(TOLERANCE);
        // the log-mel itself from the input WAV
        NDArray mel = model.frontend().forward(m, WavFiles.read16k(wav));
        assertThat(maxDiff(mel, floats("log_mel"))).isLessThan(TOLERANCE);
    }

    @Test
    void shouldReproduceTheTextAndStatesFromTheDumpedSpeechRowsAndPromptKeys() {
        // the prompt around the dumped speech rows, its keys the dumped ones; then the dumped tokens fed back
        LlamaModel llm = model.llm();
        Prompt prompt = model.prompt(floats("adaptor_out"), List.of());
        assertThat(prompt.keys()).isEqualTo(longs("prompt_keys"));
        long[] tokens = longs("token_ids");
        NDArray hidden = floats("llm_hidden");
        try (KvCache cache = llm.newCache(64)) {
            LlamaModel.Output o = llm.forward(prompt.embeddings(), cache, prompt.keys());
            NDArray state = o.hidden().get(prompt.keys().length - 1);
            NDArray logits = o.lastLogits();
            for (int i = 0; i < tokens.length; i++) {
                assertThat(logits.argMax().getLong()).as("token %d", i).isEqualTo(tokens[i]);
                assertThat(maxDiff(state, hidden.get(i))).as("state %d", i).isLessThan(TOLERANCE);
                o = llm.forward(llm.embed(new long[] {tokens[i]}), cache, new long[] {tokens[i]});
                state = o.hidden().get(0);
                logits = o.lastLogits();
            }
        }
    }

    @Test
    void shouldReproduceTheFusedRowsAndUnitsFromTheDumpedStates() {
        long[] tokens = longs("token_ids");
        NDArray hidden = floats("llm_hidden");
        assertThat(maxDiff(model.tts().fuse(hidden, tokens), floats("tts_input_embeds"))).isLessThan(TOLERANCE);
        List<Long> units = new ArrayList<>();
        try (TtsStream tts = model.tts().newStream(model.config().schedule(FINAL_CAP), TtsSampling.greedy())) {
            for (int i = 0; i < tokens.length; i++) {
                for (int u : tts.accept(hidden.get(i), tokens[i], i == tokens.length - 1).units()) {
                    units.add((long) u);
                }
            }
            assertThat(tts.contextKeys().stream().mapToLong(Long::longValue).toArray())
                    .isEqualTo(longs("tts_context_keys"));
        }
        assertThat(units.stream().mapToLong(Long::longValue).toArray()).isEqualTo(longs("unit_ids"));
    }

    @Test
    void shouldReproduceTheFlowAndHiftStagesFromTheDumpedTensors() {
        FlowMatching flow = model.decoder().flow();
        long[] units = longs("unit_ids");
        float[] xvector = floats("spk_embedding").toFloatArray();
        assertThat(xvector).containsExactly(model.decoder().xvector());
        assertThat(maxDiff(flow.encoder().forward(m, units), floats("flow_mu"))).isLessThan(TOLERANCE);
        assertThat(flow.noise(m, 0, 2L * units.length).toFloatArray()).containsExactly(floats("flow_noise")
                .toFloatArray());
        NDArray mel = flow.solve(floats("flow_mu"), flow.speaker(m, xvector), floats("flow_noise"));
        assertThat(maxDiff(mel, floats("flow_mel"))).isLessThan(TOLERANCE);
        HiftVocoder hift = model.decoder().hift();
        assertThat(maxDiff(hift.predictF0(floats("flow_mel")), floats("hift_f0"))).isLessThan(1e-3);
        assertThat(maxDiff(hift.source(floats("hift_f0"), 0), floats("hift_source"))).isLessThan(TOLERANCE);
        assertThat(maxDiff(hift.decode(floats("flow_mel"), floats("hift_source")), floats("waveform_24k")))
                .isLessThan(TOLERANCE);
    }
}
