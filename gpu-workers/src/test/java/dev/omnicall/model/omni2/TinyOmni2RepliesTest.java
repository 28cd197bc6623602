package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.TinyModels;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The tiny LLaMA-Omni2 checkpoint's replies ({@link TinyOmni2Writer#REPLY_LEVELS}): different caller audio gives
 * different reply text, every reply is a few letters, never whitespace only, and ends with {@code <|im_end|>} well
 * before the token cap; the same audio gives the same reply. Plain greedy loop over the LLM, real DJL tensors.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TinyOmni2RepliesTest {
    private static final long SEED = 20240906L;
    /** The cap the loop runs under: far above the letters' count + 1, so an end inside it is the model's. */
    private static final int MAX_NEW = 24;

    private Omni2Model model;

    @BeforeAll
    void load() {
        Path dir = TinyOmni2Writer.writeIfAbsent(Paths.get("target", "tiny-omni2-" + SEED).toAbsolutePath(), SEED);
        model = Omni2Model.load(dir, ModelOptions.defaults().withPaddedSeconds(0));
    }

    @AfterAll
    void close() {
        model.close();
    }

    /** Caller audio of several kinds: the shared test chirp at several lengths, tones, noise. */
    private static List<float[]> callerAudios() {
        List<float[]> audios = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            audios.add(TinyModels.testAudio(0.6 + 0.4 * i, 3 + i));
        }
        for (double hz : new double[] {150, 440, 1200}) {
            float[] x = new float[16000];
            for (int n = 0; n < x.length; n++) {
                x[n] = (float) (0.4 * Math.sin(2 * Math.PI * hz * n / 16000.0));
            }
            audios.add(x);
        }
        SplittableRandom r = new SplittableRandom(7);
        float[] noise = new float[24000];
        for (int n = 0; n < noise.length; n++) {
            noise[n] = (float) (0.2 * r.nextGaussian());
        }
        audios.add(noise);
        return audios;
    }

    /** The reply's tokens from the plain greedy loop (the stop id included when it came). */
    private List<Long> reply(float[] audio) {
        LlamaModel llm = model.llm();
        List<Long> tokens = new ArrayList<>();
        try (NDScope scope = new NDScope(); KvCache cache = llm.newCache(16)) {
            scope.suppressNotUsedWarning();
            Prompt prompt = model.prompt(model.encodeSpeech(audio), List.of());
            NDArray logits = llm.forward(prompt.embeddings(), cache, prompt.keys()).lastLogits();
            while (true) {
                long token = logits.argMax().toType(DataType.INT64, false).getLong();
                tokens.add(token);
                if (model.isStop(token) || tokens.size() >= MAX_NEW) {
                    return tokens;
                }
                logits = llm.forward(llm.embed(new long[] {token}), cache, new long[] {token}).lastLogits();
            }
        }
    }

    private String text(List<Long> tokens) {
        long[] ids = tokens.stream().filter(t -> !model.isStop(t)).mapToLong(Long::longValue).toArray();
        return model.tokenizer().decode(ids);
    }

    @Test
    void shouldGiveDifferentShortRepliesThatEndWhenTheCallerAudioDiffers() {
        // Given eight different caller utterances
        List<float[]> audios = callerAudios();
        // When the tiny model answers each
        Set<String> distinct = new LinkedHashSet<>();
        for (float[] audio : audios) {
            List<Long> tokens = reply(audio);
            String text = text(tokens);
            System.out.printf("%.2f s -> %s '%s'%n", audio.length / 16000.0, tokens, text);
            // Then each reply is one letter per group and ends with <|im_end|>, far inside the cap
            assertThat(tokens).hasSize(TinyOmni2Writer.REPLY_LEVELS.size() + 1);
            assertThat(tokens.get(tokens.size() - 1)).isEqualTo(TinyOmni2Writer.IM_END);
            assertThat(text).isNotBlank().hasSize(TinyOmni2Writer.REPLY_LEVELS.size());
            for (int i = 0; i < text.length(); i++) {
                assertThat(TinyOmni2Writer.REPLY_LEVELS.get(i)).contains(text.substring(i, i + 1));
            }
            distinct.add(text);
        }
        // And the replies vary with the audio
        System.out.println("distinct replies: " + distinct);
        assertThat(distinct).hasSizeGreaterThanOrEqualTo(4);
    }

    /** The TTS writes of a reply: the plain greedy loop's (state, token) pairs through a fresh TtsStream. */
    private static List<TtsStream.Write> speak(Omni2Model m, float[] audio, TtsSchedule schedule) {
        LlamaModel llm = m.llm();
        List<TtsStream.Write> writes = new ArrayList<>();
        try (NDScope scope = new NDScope(); KvCache cache = llm.newCache(16);
                TtsStream tts = m.tts().newStream(schedule, TtsSampling.greedy())) {
            scope.suppressNotUsedWarning();
            Prompt prompt = m.prompt(m.encodeSpeech(audio), List.of());
            LlamaModel.Output out = llm.forward(prompt.embeddings(), cache, prompt.keys());
            NDArray state = out.hidden().get(out.hidden().getShape().get(0) - 1);
            NDArray logits = out.lastLogits();
            for (int n = 1; ; n++) {
                long token = logits.argMax().toType(DataType.INT64, false).getLong();
                boolean last = m.isStop(token) || n >= MAX_NEW;
                TtsStream.Write w = tts.accept(state, token, last);
                if (w.wrote()) {
                    writes.add(w);
                }
                if (last) {
                    return writes;
                }
                out = llm.forward(llm.embed(new long[] {token}), cache, new long[] {token});
                state = out.hidden().get(0);
                logits = out.lastLogits();
            }
        }
    }

    @Test
    void shouldEndEveryReplysSpeechOnTheTtsEndTokenAndNoMidReplyWrite() {
        // Given the eight utterances and the published schedule (R 3, W 10, final cap 1024)
        List<Integer> finals = new ArrayList<>();
        for (float[] audio : callerAudios()) {
            List<TtsStream.Write> writes = speak(model, audio, new TtsSchedule(3, 10, 1024));
            // Then the write after token 3 is W units without an end, and the final write ends on the end token
            assertThat(writes).hasSize(2);
            assertThat(writes.get(0).units()).hasSize(10);
            assertThat(writes.get(0).ended()).isFalse();
            TtsStream.Write last = writes.get(1);
            assertThat(last.sep()).isTrue();
            assertThat(last.ended()).isTrue();
            assertThat(last.capped()).isFalse();
            finals.add(last.units().length);
        }
        // And after a few seconds of speech at most (25 units a second), not at once
        System.out.println("final writes end after " + finals + " units");
        assertThat(finals).allSatisfy(n -> assertThat(n).isBetween(5, 75));
    }

    @Test
    void shouldRunEveryFinalWriteToItsCapWhenTheTtsLmIsLeftPlain(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws Exception {
        // Given the same tiny checkpoint with its TTS LM not shaped to end (fraction 0), and a cap of 60
        Path plainDir = tmp.resolve("plain");
        TinyOmni2Writer.write(plainDir, SEED, TinyOmni2Writer.Options.defaults().withTtsEndFraction(0));
        TtsSchedule schedule = new TtsSchedule(3, 10, 60);
        float[] audio = TinyModels.testAudio(1.2, 3);
        try (Omni2Model plain = Omni2Model.load(plainDir, ModelOptions.defaults().withPaddedSeconds(0))) {
            // Then its final write reaches the cap, where the shaped one ends before it on the same audio
            TtsStream.Write plainFinal = speak(plain, audio, schedule).get(1);
            assertThat(plainFinal.capped()).isTrue();
            assertThat(plainFinal.units()).hasSize(60);
            TtsStream.Write shapedFinal = speak(model, audio, schedule).get(1);
            assertThat(shapedFinal.ended()).isTrue();
            assertThat(shapedFinal.units().length).isLessThan(60);
        }
    }

    @Test
    void shouldGiveTheSameReplyWhenTheAudioIsTheSame() {
        float[] audio = TinyModels.testAudio(1.2, 3);
        assertThat(reply(audio.clone())).isEqualTo(reply(audio));
    }
}
