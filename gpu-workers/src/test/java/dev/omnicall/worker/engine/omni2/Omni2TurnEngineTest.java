package dev.omnicall.worker.engine.omni2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.LogMelFrontend;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.model.omni2.SpeechStream;
import dev.omnicall.model.omni2.TinyOmni2Writer;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.model.omni2.TtsStream;
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.StepOutput;
import dev.omnicall.worker.engine.TurnInput;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A whole LLaMA-Omni2 turn through {@link Omni2TurnEngine} on the tiny checkpoint, real DJL tensors, against the
 * slow obvious path built from the blocks by hand: the plain greedy loop over the LLM (fresh cache, one token at a
 * time), a fresh {@link TtsStream} fed the loop's states, a fresh {@link SpeechStream} fed the written units.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Omni2TurnEngineTest {
    static final long SEED = 20240906L;
    private static final int MAX_NEW = 14;
    private static final TtsSchedule SCHEDULE = new TtsSchedule(3, 10, 40);

    private Omni2Model model;

    static Path tinyDir() {
        return TinyOmni2Writer.writeIfAbsent(Paths.get("target", "tiny-omni2-" + SEED).toAbsolutePath(), SEED);
    }

    @BeforeAll
    void load() {
        model = Omni2Model.load(tinyDir(), ModelOptions.defaults().withPaddedSeconds(0));
    }

    @AfterAll
    void close() {
        model.close();
    }

    private static short[] utterance() {
        float[] x = TinyModels.testAudio(1.2, 3);
        short[] pcm = new short[x.length];
        for (int i = 0; i < x.length; i++) {
            pcm[i] = (short) Math.round(x[i] * 32767);
        }
        return pcm;
    }

    /** What the engine's turn produced. */
    record Turn(List<Long> tokens, List<Integer> units, byte[] pcm, int chunksBeforeLast, int unitsBeforeLast, int sampleRate,
            String text, String cutShort, List<Integer> unitsPerStep, boolean lastStepHadAudio) {
    }

    private static Omni2TurnEngine.Options options() {
        return new Omni2TurnEngine.Options(SCHEDULE, TtsSampling.greedy(), MAX_NEW);
    }

    private Turn runEngine(short[] pcm) {
        return runEngine(pcm, options());
    }

    private Turn runEngine(short[] pcm, Omni2TurnEngine.Options options) {
        Omni2TurnEngine engine = new Omni2TurnEngine(model, options);
        List<Integer> unitsPerStep = new ArrayList<>();
        boolean lastStepHadAudio = false;
        try (Omni2Session s = (Omni2Session) engine.start(new TurnInput("call-1", pcm, List.of()), null)) {
            ByteArrayOutputStream audio = new ByteArrayOutputStream();
            StringBuilder text = new StringBuilder();
            int chunksBeforeLast = 0;
            int unitsBeforeLast = 0;
            int rate = 0;
            int steps = 0;
            while (!s.done()) {
                StepOutput out = engine.step(List.<EngineSession>of(s)).get(0);
                steps++;
                text.append(out.text());
                unitsPerStep.add(out.newUnits());
                lastStepHadAudio = out.done() && !out.audio().isEmpty();
                if (!out.done()) {
                    unitsBeforeLast += out.newUnits();
                }
                for (StepOutput.AudioPiece p : out.audio()) {
                    audio.writeBytes(p.pcm());
                    rate = p.sampleRate();
                    if (!out.done()) {
                        chunksBeforeLast++;
                    }
                }
            }
            assertThat(steps).isEqualTo(s.tokens().size());
            return new Turn(s.tokens(), s.units(), audio.toByteArray(), chunksBeforeLast, unitsBeforeLast, rate,
                    text.toString(), s.cutShort(), unitsPerStep, lastStepHadAudio);
        }
    }

    /** The plain greedy loop: prefill, then one token at a time on a fresh cache; returns tokens and states [H]. */
    private List<Long> greedyLoop(short[] pcm, List<float[]> states) {
        LlamaModel llm = model.llm();
        List<Long> tokens = new ArrayList<>();
        try (NDScope scope = new NDScope(); KvCache cache = llm.newCache(16)) {
            scope.suppressNotUsedWarning();
            NDArray speech = model.encodeSpeech(LogMelFrontend.pcmToFloat(pcm));
            Prompt prompt = model.prompt(speech, List.of());
            LlamaModel.Output out = llm.forward(prompt.embeddings(), cache, prompt.keys());
            NDArray state = out.hidden().get(out.hidden().getShape().get(0) - 1);
            NDArray logits = out.lastLogits();
            while (true) {
                long token = logits.argMax().toType(DataType.INT64, false).getLong();
                tokens.add(token);
                states.add(state.toType(DataType.FLOAT32, false).toFloatArray());
                if (model.isStop(token) || tokens.size() >= MAX_NEW) {
                    return tokens;
                }
                out = llm.forward(llm.embed(new long[] {token}), cache, new long[] {token});
                state = out.hidden().get(0);
                logits = out.lastLogits();
            }
        }
    }

    @Test
    void shouldMatchThePlainGreedyLoopTheTtsStreamAndTheSpeechStreamWhenATurnRunsThroughTheEngine() {
        // Given one utterance
        short[] pcm = utterance();
        // When the engine runs the whole turn
        Turn turn = runEngine(pcm);
        // Then its text tokens are the plain greedy loop's
        List<float[]> states = new ArrayList<>();
        List<Long> reference = greedyLoop(pcm, states);
        assertThat(turn.tokens()).isEqualTo(reference);
        // And its units are those a fresh TtsStream writes from the loop's states
        List<Integer> units = new ArrayList<>();
        List<long[]> writes = new ArrayList<>();
        try (NDManager m = model.manager().newSubManager();
                TtsStream tts = model.tts().newStream(SCHEDULE, TtsSampling.greedy())) {
            for (int i = 0; i < reference.size(); i++) {
                NDArray h = m.create(states.get(i)).toType(model.llm().dataType(), false);
                TtsStream.Write w = tts.accept(h, reference.get(i), i == reference.size() - 1);
                long[] batch = new long[w.units().length];
                for (int j = 0; j < batch.length; j++) {
                    batch[j] = w.units()[j];
                    units.add(w.units()[j]);
                }
                if (batch.length > 0) {
                    writes.add(batch);
                }
            }
        }
        assertThat(turn.units()).isEqualTo(units).isNotEmpty();
        // And its audio is a fresh SpeechStream's over those writes, 960 samples per unit at 24 kHz
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        try (NDManager m = model.manager().newSubManager()) {
            SpeechStream speech = model.decoder().newStream(m);
            for (long[] w : writes) {
                expected.writeBytes(Omni2Session.pcm16(speech.push(w)));
            }
            expected.writeBytes(Omni2Session.pcm16(speech.finish()));
        }
        assertThat(turn.sampleRate()).isEqualTo(24000);
        assertThat(turn.pcm()).hasSize(2 * 960 * units.size()).isEqualTo(expected.toByteArray());
        // And audio streamed before the last step once 10 units were written (7 tokens of mel less the 160 ms hold)
        System.out.printf("omni2 turn: %d text tokens (%d chars), %d units (%d before the last step), %d chunks before"
                + " the last step%n", reference.size(), turn.text().length(), units.size(), turn.unitsBeforeLast(),
                turn.chunksBeforeLast());
        assertThat(turn.unitsBeforeLast() < 10 || turn.chunksBeforeLast() > 0).isTrue();
    }

    @Test
    void shouldGiveTheSameTurnTwiceWhenRunAgain() {
        // Given the same utterance twice: greedy text and units, pinned source phases and noise
        short[] pcm = utterance();
        Turn a = runEngine(pcm);
        Turn b = runEngine(pcm);
        assertThat(b.tokens()).isEqualTo(a.tokens());
        assertThat(b.units()).isEqualTo(a.units());
        assertThat(b.pcm()).isEqualTo(a.pcm());
    }

    /** A fresh SpeechStream over the given writes (each pushed as written), then finished. */
    private byte[] speechOf(List<long[]> writes) {
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        try (NDManager m = model.manager().newSubManager()) {
            SpeechStream speech = model.decoder().newStream(m);
            for (long[] w : writes) {
                expected.writeBytes(Omni2Session.pcm16(speech.push(w)));
            }
            expected.writeBytes(Omni2Session.pcm16(speech.finish()));
        }
        return expected.toByteArray();
    }

    @Test
    void shouldEndWithAFinalChunkAndNoCutWhenTheTtsLmWritesItsEndBeforeTheCap() {
        // Given the tiny turn (4 text tokens), whose TTS LM writes its end token some units into the final write
        Turn turn = runEngine(utterance());
        int last = turn.unitsPerStep().get(turn.unitsPerStep().size() - 1);
        // Then the final write ended inside its cap (40), the reply was not cut, and its last step carries audio
        assertThat(last).isPositive().isLessThan(SCHEDULE.finalCap());
        assertThat(turn.cutShort()).isNull();
        assertThat(turn.lastStepHadAudio()).isTrue();
        assertThat(turn.pcm()).hasSize(2 * 960 * turn.units().size());
        // And the same stream, fed the same pairs, says the write ended rather than capped
        List<float[]> states = new ArrayList<>();
        List<Long> tokens = greedyLoop(utterance(), states);
        TtsStream.Write finalWrite = null;
        try (NDManager m = model.manager().newSubManager();
                TtsStream tts = model.tts().newStream(SCHEDULE, TtsSampling.greedy())) {
            for (int i = 0; i < tokens.size(); i++) {
                NDArray h = m.create(states.get(i)).toType(model.llm().dataType(), false);
                finalWrite = tts.accept(h, tokens.get(i), i == tokens.size() - 1);
            }
        }
        assertThat(finalWrite.ended()).isTrue();
        assertThat(finalWrite.capped()).isFalse();
        assertThat(finalWrite.units()).hasSize(last);
    }

    @Test
    void shouldEndWithAFinalChunkAndSayTtsCapWhenTheFinalWriteReachesTheCap() {
        // Given the tiny turn with a final cap of 5, under the units its final write has before its end token
        short[] pcm = utterance();
        Turn full = runEngine(pcm);
        Turn capped = runEngine(pcm, new Omni2TurnEngine.Options(new TtsSchedule(3, 10, 5), TtsSampling.greedy(),
                MAX_NEW));
        // Then the reply ended on its own step with audio in it, and the session says the TTS cap cut it
        assertThat(full.unitsPerStep().get(full.unitsPerStep().size() - 1)).isGreaterThan(5);
        assertThat(capped.cutShort()).isEqualTo(Omni2Session.CUT_TTS_CAP);
        assertThat(capped.lastStepHadAudio()).isTrue();
        assertThat(capped.unitsPerStep().get(capped.unitsPerStep().size() - 1)).isEqualTo(5);
        // And text and units are the uncut turn's, the units a prefix of them, 960 samples a unit
        assertThat(capped.tokens()).isEqualTo(full.tokens());
        assertThat(capped.units()).isEqualTo(full.units().subList(0, capped.units().size()));
        assertThat(capped.pcm()).hasSize(2 * 960 * capped.units().size());
    }

    @Test
    void shouldKeepTheUnitsThatFitAndEndWithAFinalChunkWhenAReplyReachesTheSpeechLimit() {
        // Given the uncapped turn and a speech limit of 5 units (the flow noise's 7500 scaled down; less than W = 10,
        // so the first write, after token 3 of the tiny model's 4, crosses it and is cut inside)
        short[] pcm = utterance();
        Turn full = runEngine(pcm);
        int limit = 5;
        assertThat(full.units().size()).isGreaterThan(limit);
        // When the same turn runs with that limit
        Turn cut = runEngine(pcm, options().withMaxReplyUnits(limit));
        // Then it ends (no exception) at the step whose write crossed the limit, text and speech
        assertThat(cut.cutShort()).isEqualTo(Omni2Session.CUT_FLOW_NOISE);
        assertThat(cut.units()).isEqualTo(full.units().subList(0, limit));
        assertThat(cut.tokens()).isEqualTo(full.tokens().subList(0, cut.tokens().size()));
        assertThat(cut.tokens().size()).isLessThan(full.tokens().size());
        int sum = 0;
        int crossing = -1;
        for (int i = 0; i < full.unitsPerStep().size() && crossing < 0; i++) {
            sum += full.unitsPerStep().get(i);
            if (sum > limit) {
                crossing = i;
            }
        }
        assertThat(cut.tokens()).hasSize(crossing + 1);
        // And its last step carries the final chunk; the audio is a fresh stream's over the kept units, 960 a unit
        assertThat(cut.lastStepHadAudio()).isTrue();
        List<long[]> writes = new ArrayList<>();
        int at = 0;
        for (int n : cut.unitsPerStep()) {
            if (n > 0) {
                writes.add(cut.units().subList(at, at + n).stream().mapToLong(Integer::longValue).toArray());
                at += n;
            }
        }
        assertThat(cut.pcm()).hasSize(2 * 960 * limit).isEqualTo(speechOf(writes));
    }

    @Test
    void shouldTakeRWTheCapAndTheTtsSamplingFromTheWorkersSettings() {
        java.util.Properties none = new java.util.Properties();
        // Given no settings: the checkpoint's stream_params (3,10), the reference's cap, greedy
        Omni2TurnEngine.Options defaults = Omni2TurnEngine.Options.fromSettings(model.config(), MAX_NEW, none);
        assertThat(defaults.schedule()).isEqualTo(new TtsSchedule(3, 10, 1024));
        assertThat(defaults.sampling()).isEqualTo(TtsSampling.greedy());
        // Given R, W, cap and seeded sampling set
        java.util.Properties set = new java.util.Properties();
        set.setProperty(Omni2TurnEngine.STREAM_PARAMS_KEY, "(2,5)");
        set.setProperty(Omni2TurnEngine.FINAL_CAP_KEY, "40");
        set.setProperty(Omni2TurnEngine.TTS_SAMPLING_KEY, "sampled:7");
        Omni2TurnEngine.Options options = Omni2TurnEngine.Options.fromSettings(model.config(), MAX_NEW, set);
        assertThat(options.schedule()).isEqualTo(new TtsSchedule(2, 5, 40));
        assertThat(options.sampling()).isEqualTo(TtsSampling.sampled(7, 1.0));
        set.setProperty(Omni2TurnEngine.TTS_SAMPLING_KEY, "sampled:7:0.8");
        assertThat(Omni2TurnEngine.Options.fromSettings(model.config(), MAX_NEW, set).sampling())
                .isEqualTo(TtsSampling.sampled(7, 0.8));
        // Then a turn writes after every 2nd token, at most 5 units (the tiny reply: 4 tokens, writes after 2, then
        // the final write), and the seeded sampling repeats and differs from greedy
        short[] pcm = utterance();
        set.setProperty(Omni2TurnEngine.TTS_SAMPLING_KEY, "sampled:7");
        Turn sampled = runEngine(pcm, Omni2TurnEngine.Options.fromSettings(model.config(), MAX_NEW, set));
        assertThat(sampled.unitsPerStep()).hasSize(4);
        assertThat(sampled.unitsPerStep().subList(0, 3)).containsExactly(0, 5, 0);
        assertThat(runEngine(pcm, Omni2TurnEngine.Options.fromSettings(model.config(), MAX_NEW, set)).units())
                .isEqualTo(sampled.units());
        set.setProperty(Omni2TurnEngine.TTS_SAMPLING_KEY, "greedy");
        Turn greedy = runEngine(pcm, Omni2TurnEngine.Options.fromSettings(model.config(), MAX_NEW, set));
        assertThat(greedy.unitsPerStep().subList(0, 3)).containsExactly(0, 5, 0);
        assertThat(sampled.units()).isNotEqualTo(greedy.units());
        assertThat(sampled.tokens()).isEqualTo(greedy.tokens());
        // And a value that does not parse is one error naming its key
        for (String[] bad : new String[][] {{Omni2TurnEngine.STREAM_PARAMS_KEY, "3,10,1"},
                {Omni2TurnEngine.FINAL_CAP_KEY, "lots"}, {Omni2TurnEngine.TTS_SAMPLING_KEY, "random"},
                {Omni2TurnEngine.TTS_SAMPLING_KEY, "sampled:1:0"}}) {
            java.util.Properties p = new java.util.Properties();
            p.setProperty(bad[0], bad[1]);
            org.assertj.core.api.Assertions.assertThatThrownBy(
                    () -> Omni2TurnEngine.Options.fromSettings(model.config(), MAX_NEW, p))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(bad[0])
                    .hasMessageContaining(bad[1]);
        }
    }

    @Test
    void shouldTakeTheFlowNoiseLengthAsTheDefaultSpeechLimit() {
        // The published limit: 15000 noise frames / 2 frames a unit
        assertThat(options().maxReplyUnits()).isEqualTo(7500);
        try (NDManager m = model.manager().newSubManager()) {
            assertThat(model.decoder().newStream(m).maxUnits()).isEqualTo(7500);
        }
    }
}
