package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.OmniModel;
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
            OmniModel.Prompt prompt = model.prompt(model.encodeSpeech(audio), List.of());
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

    @Test
    void shouldGiveTheSameReplyWhenTheAudioIsTheSame() {
        float[] audio = TinyModels.testAudio(1.2, 3);
        assertThat(reply(audio.clone())).isEqualTo(reply(audio));
    }
}
