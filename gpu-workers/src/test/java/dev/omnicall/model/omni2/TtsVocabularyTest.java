package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.gson.JsonObject;
import dev.omnicall.model.ModelOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TTS ids come from the checkpoint's {@code tts_tokenizer/} ({@link TtsTokenizerLayout}), as the reference's
 * {@code AutoTokenizer} gives them: {@code <sep>} by its text, the end from {@code eos_token}, the units as the
 * non-special added tokens holding a number. A layout that differs from the published rule is followed, not
 * overridden; without the directory the rule applies; a broken layout is one error naming what is wrong.
 */
class TtsVocabularyTest {
    private static final int TEXT = TinyOmni2Writer.TEXT_VOCAB; // 259: bytes + 3 specials
    private static final int UNITS = TinyOmni2Writer.UNITS; // 64
    private static final int TTS_VOCAB = TinyOmni2Writer.TTS_VOCAB; // 324

    @TempDir
    Path tmp;

    private static Omni2Config tinyConfig() {
        return Omni2Config.parse(TinyOmni2Writer.configJson(TinyOmni2Writer.Options.defaults()).toString());
    }

    /** A checkpoint directory holding only tts_tokenizer/ with {@code <sep>} and the units at these ids. */
    private Path layout(int sepId, int unitBase, int units) throws Exception {
        Path dir = tmp.resolve("ckpt-" + sepId + "-" + unitBase + "-" + units);
        TinyOmni2Writer.writeTtsTokenizer(dir.resolve(TtsTokenizerLayout.DIR_NAME), sepId, unitBase, units);
        return dir;
    }

    @Test
    void shouldReadThePublishedRulesIdsFromTheTinyTtsTokenizer() throws Exception {
        // Given the tiny checkpoint's tts_tokenizer (<sep> just before the units, eos_token <|endoftext|>)
        Path dir = layout(TEXT, TEXT + 1, UNITS);
        // Then the ids read are the rule's: units 260..323, <sep> 259, end 256
        TtsVocabulary read = TtsTokenizerLayout.vocabulary(dir, tinyConfig());
        assertThat(read).isEqualTo(new TtsVocabulary(TEXT + 1, UNITS, TEXT, TinyOmni2Writer.END_OF_TEXT));
        assertThat(read).isEqualTo(tinyConfig().ttsVocabulary());
    }

    @Test
    void shouldFollowTheTokenizerWhenItsIdsDifferFromTheRule() throws Exception {
        // Given a tts_tokenizer with the units first and <sep> after them, and eos_token <|im_end|>
        Path dir = layout(TEXT + UNITS, TEXT, UNITS);
        Path config = dir.resolve(TtsTokenizerLayout.DIR_NAME).resolve(TtsTokenizerLayout.TOKENIZER_CONFIG);
        Files.writeString(config, Files.readString(config).replace("\"eos_token\":\"<|endoftext|>\"",
                "\"eos_token\":\"<|im_end|>\""));
        // Then the vocabulary is the tokenizer's, not the rule's (which would put <sep> at 259 and end at 256)
        TtsVocabulary read = TtsTokenizerLayout.vocabulary(dir, tinyConfig());
        assertThat(read).isEqualTo(new TtsVocabulary(TEXT, UNITS, TEXT + UNITS, TinyOmni2Writer.IM_END));
        assertThat(read).isNotEqualTo(tinyConfig().ttsVocabulary());
    }

    @Test
    void shouldLoadTheTtsLanguageModelWithTheTokenizersIds() throws Exception {
        // Given the whole tiny checkpoint whose tts_tokenizer lays the units out first, <sep> last
        Path dir = tmp.resolve("omni2");
        TinyOmni2Writer.write(dir, Omni2ModelLoadTest.SEED, TinyOmni2Writer.Options.defaults());
        TinyOmni2Writer.writeTtsTokenizer(dir.resolve(TtsTokenizerLayout.DIR_NAME), TEXT + UNITS, TEXT, UNITS);
        // When the model loads
        try (Omni2Model model = Omni2Model.load(dir, ModelOptions.defaults().withPaddedSeconds(0))) {
            // Then its TTS LM scores and writes those ids
            assertThat(model.tts().vocabulary()).isEqualTo(new TtsVocabulary(TEXT, UNITS, TEXT + UNITS,
                    TinyOmni2Writer.END_OF_TEXT));
        }
    }

    @Test
    void shouldTakeThePublishedRuleWhenThereIsNoTtsTokenizer() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("bare"));
        assertThat(TtsTokenizerLayout.vocabulary(dir, tinyConfig())).isEqualTo(tinyConfig().ttsVocabulary());
    }

    @Test
    void shouldReadThePublishedSizesFromASlowTokenizersFiles() throws Exception {
        // Given the slow-tokenizer files alone at LLaMA-Omni2's sizes: added_tokens.json with <sep> and 6561 units,
        // tokenizer_config.json naming <|endoftext|> (151643) as eos
        Path dir = Files.createDirectories(tmp.resolve("published"));
        JsonObject added = new JsonObject();
        added.addProperty("<|endoftext|>", 151643);
        added.addProperty("<|im_start|>", 151644);
        added.addProperty("<|im_end|>", 151645);
        added.addProperty("<sep>", 151665);
        for (int u = 0; u < 6561; u++) {
            added.addProperty(String.format(TinyOmni2Writer.UNIT_TOKEN, u), 151666 + u);
        }
        Files.writeString(dir.resolve(TtsTokenizerLayout.ADDED_TOKENS), added.toString());
        Files.writeString(dir.resolve(TtsTokenizerLayout.TOKENIZER_CONFIG), "{\"eos_token\": {\"content\":"
                + " \"<|endoftext|>\", \"__type\": \"AddedToken\"}, \"added_tokens_decoder\": {\"151643\":"
                + " {\"content\": \"<|endoftext|>\", \"special\": true}}}");
        // Then the vocabulary is the published one
        assertThat(TtsTokenizerLayout.read(dir, 158227, 6561, null)).isEqualTo(TtsVocabulary.published());
    }

    @Test
    void shouldNotTakeASpecialTokenHoldingANumberAsAUnit() throws Exception {
        // Given one more added token with a number, special (the reference's decode drops it)
        Path dir = layout(TEXT, TEXT + 1, UNITS);
        Path json = dir.resolve(TtsTokenizerLayout.DIR_NAME).resolve(TtsTokenizerLayout.TOKENIZER_JSON);
        Files.writeString(json, Files.readString(json).replace("\"added_tokens\":[", "\"added_tokens\":[{\"id\":"
                + (TEXT + 1 + UNITS) + ",\"content\":\"<|extra_0|>\",\"special\":true},"));
        // Then the units are still the 64 non-special ones
        assertThat(TtsTokenizerLayout.read(dir.resolve(TtsTokenizerLayout.DIR_NAME), TTS_VOCAB + 1, UNITS, null)
                .unitBase()).isEqualTo(TEXT + 1);
    }

    @Test
    void shouldSayWhatIsWrongWhenTheLayoutIsBroken() throws Exception {
        Omni2Config config = tinyConfig();
        // no <sep>
        Path noSep = layout(TEXT, TEXT + 1, UNITS);
        Path json = noSep.resolve(TtsTokenizerLayout.DIR_NAME).resolve(TtsTokenizerLayout.TOKENIZER_JSON);
        Files.writeString(json, Files.readString(json).replace("<sep>", "<not-sep>"));
        assertThatThrownBy(() -> TtsTokenizerLayout.vocabulary(noSep, config))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("tts_tokenizer")
                .hasMessageContaining("no <sep> token");
        // fewer unit tokens than unit_vocab_size
        assertThatThrownBy(() -> TtsTokenizerLayout.vocabulary(layout(TEXT, TEXT + 1, UNITS - 1), config))
                .hasMessageContaining("63 unit tokens").hasMessageContaining("unit_vocab_size is 64");
        // unit numbers that are not id - base (numbered from 1)
        Path shifted = layout(TEXT, TEXT + 1, UNITS);
        Path shiftedJson = shifted.resolve(TtsTokenizerLayout.DIR_NAME).resolve(TtsTokenizerLayout.TOKENIZER_JSON);
        String text = Files.readString(shiftedJson);
        for (int u = UNITS - 1; u >= 0; u--) {
            text = text.replace(String.format(TinyOmni2Writer.UNIT_TOKEN, u),
                    String.format(TinyOmni2Writer.UNIT_TOKEN, u + 1));
        }
        Files.writeString(shiftedJson, text);
        assertThatThrownBy(() -> TtsTokenizerLayout.vocabulary(shifted, config))
                .hasMessageContaining("token id 260 reads as unit 1").hasMessageContaining("consecutive ids");
        // a token that would read as two units
        Path two = layout(TEXT, TEXT + 1, UNITS);
        Path twoJson = two.resolve(TtsTokenizerLayout.DIR_NAME).resolve(TtsTokenizerLayout.TOKENIZER_JSON);
        Files.writeString(twoJson, Files.readString(twoJson).replace("<|s_5|>", "<|s_5_2|>"));
        assertThatThrownBy(() -> TtsTokenizerLayout.vocabulary(two, config)).hasMessageContaining("'<|s_5_2|>'")
                .hasMessageContaining("two numbers");
        // an eos_token no token has
        Path badEos = layout(TEXT, TEXT + 1, UNITS);
        Path cfg = badEos.resolve(TtsTokenizerLayout.DIR_NAME).resolve(TtsTokenizerLayout.TOKENIZER_CONFIG);
        Files.writeString(cfg, Files.readString(cfg).replace("\"eos_token\":\"<|endoftext|>\"",
                "\"eos_token\":\"<|eot|>\""));
        assertThatThrownBy(() -> TtsTokenizerLayout.vocabulary(badEos, config))
                .hasMessageContaining("eos_token '<|eot|>'");
        // ids beyond the TTS vocabulary
        assertThatThrownBy(() -> TtsTokenizerLayout.vocabulary(layout(TEXT, TEXT + 2, UNITS), config))
                .hasMessageContaining("vocab_size 324");
        // an empty directory
        Path empty = tmp.resolve("empty");
        Files.createDirectories(empty.resolve(TtsTokenizerLayout.DIR_NAME));
        assertThatThrownBy(() -> TtsTokenizerLayout.vocabulary(empty, config)).hasMessageContaining("holds none of");
    }
}
