package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.model.omni.ChatPrompt;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import java.util.List;
import org.junit.jupiter.api.Test;

class OmniTokenizerTest {
    private final OmniTokenizer tokenizer = TinyModels.model().tokenizer();

    @Test
    void shouldLoadTheCheckpointTokenizerOfflineWithTheLlama3SpecialTokens() {
        assertThat(tokenizer.specialId("<|begin_of_text|>")).isEqualTo(TinyCheckpointWriter.BOS);
        assertThat(tokenizer.specialId("<|start_header_id|>")).isEqualTo(258);
        assertThat(tokenizer.specialId("<|end_header_id|>")).isEqualTo(259);
        assertThat(tokenizer.specialId("<|eot_id|>")).isEqualTo(TinyCheckpointWriter.EOT);
        assertThat(TinyModels.model().isEos(TinyCheckpointWriter.EOT)).isTrue();
    }

    @Test
    void shouldStartThePromptWithExactlyOneBeginOfTextWhenTheTokenizerWouldAddAnother() {
        // the tiny tokenizer.json, like Llama-3's, has a post-processor that prepends <|begin_of_text|>
        Prompt.Parts parts = ChatPrompt.build(List.of());
        long[] ids = tokenizer.encode(parts.beforeSpeech());
        assertThat(ids[0]).isEqualTo(TinyCheckpointWriter.BOS);
        assertThat(ids[1]).isNotEqualTo(TinyCheckpointWriter.BOS);
        assertThat(ids[1]).isEqualTo(258);
        long[] after = tokenizer.encode(parts.afterSpeech());
        // ... then the assistant header: <|end_header_id|> and "\n\n" (two byte tokens here)
        assertThat(after).endsWith(259L, 10L, 10L);
    }

    @Test
    void shouldRoundTripUtf8TextThroughByteLevelTokens() {
        String text = "Grüße, 你好 — ok?";
        assertThat(tokenizer.decode(tokenizer.encode(text))).isEqualTo(text);
    }
}
