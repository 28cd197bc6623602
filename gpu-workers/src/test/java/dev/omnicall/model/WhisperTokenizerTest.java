package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.omnicall.model.io.CheckpointException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Whisper's tiktoken vocabulary: special-token ids in whisper's order, decoding, encoding, file errors. */
class WhisperTokenizerTest {
    @TempDir
    Path tmp;

    /** A vocabulary shaped like multilingual.tiktoken: the 256 bytes, then distinct filler tokens up to size. */
    private static List<byte[]> syntheticVocabulary(int size) {
        List<byte[]> tokens = new ArrayList<>();
        for (int b : TinyTiktoken.byteOrder()) {
            tokens.add(new byte[] {(byte) b});
        }
        for (int i = 0; tokens.size() < size; i++) {
            tokens.add(("\u0001tok" + i).getBytes(StandardCharsets.UTF_8));
        }
        return tokens;
    }

    @Test
    void shouldPlaceLargeV3SpecialTokensWhereWhisperDoes() {
        // Given multilingual.tiktoken's 50257 base tokens and large-v3's n_vocab 51866
        WhisperTokenizer t = WhisperTokenizer.of(syntheticVocabulary(50257), 51866, "large-v3-shaped");
        // Then whisper's get_encoding(num_languages = 51866 - 51765 - 1 = 100) ids come out
        assertThat(t.languages()).hasSize(100).startsWith("en", "zh", "de").endsWith("su", "yue");
        assertThat(t.endOfText()).isEqualTo(50257);
        assertThat(t.startOfTranscript()).isEqualTo(50258);
        assertThat(t.languageToken("en")).isEqualTo(50259);
        assertThat(t.languageToken("yue")).isEqualTo(50358);
        assertThat(t.translate()).isEqualTo(50359);
        assertThat(t.transcribe()).isEqualTo(50360);
        assertThat(t.startOfLm()).isEqualTo(50361);
        assertThat(t.startOfPrev()).isEqualTo(50362);
        assertThat(t.noSpeech()).isEqualTo(50363);
        assertThat(t.noTimestamps()).isEqualTo(50364);
        assertThat(t.timestampBegin()).isEqualTo(50365);
        assertThat(t.tokenText(51865)).isEqualTo("<|30.00|>");
        assertThat(t.tokenText(50359)).isEqualTo("<|translate|>");
        assertThat(t.languageOf(50260)).contains("zh");
        assertThat(t.languageOf(50359)).isEmpty();
    }

    @Test
    void shouldPlaceLargeV2SpecialTokensWithNinetyNineLanguages() {
        // large-v2 (n_vocab 51865) has no yue: transcribe 50359, notimestamps 50363
        WhisperTokenizer t = WhisperTokenizer.of(syntheticVocabulary(50257), 51865, "large-v2-shaped");
        assertThat(t.languages()).hasSize(99).doesNotContain("yue");
        assertThat(t.transcribe()).isEqualTo(50359);
        assertThat(t.noTimestamps()).isEqualTo(50363);
        assertThatThrownBy(() -> t.languageToken("yue")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'yue'");
    }

    @Test
    void shouldNameBothNumbersWhenTheVocabularyDisagreesWithNVocab() {
        assertThatThrownBy(() -> WhisperTokenizer.of(syntheticVocabulary(50000), 51866, "short.tiktoken"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("50000 base tokens")
                .hasMessageContaining("n_vocab is 51866").hasMessageContaining("short.tiktoken");
        assertThatThrownBy(() -> WhisperTokenizer.of(syntheticVocabulary(50257), 51766, "v"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("n_vocab is 51766");
    }

    @Test
    void shouldJoinBytesSplitAcrossTokensAndDropSpecialTokens() {
        WhisperTokenizer t = WhisperTokenizer.of(syntheticVocabulary(300), 300 + 1609, "v");
        long e1 = byteToken(0xC3);
        long e2 = byteToken(0xA9);
        long[] ids = {t.startOfTranscript(), t.languageToken("fr"), t.transcribe(), t.noTimestamps(), byteToken(' '),
                byteToken('c'), byteToken('a'), byteToken('f'), e1, e2, t.timestampBegin() + 5, t.endOfText()};
        // é is two byte tokens; the specials (and the timestamp) leave no trace
        assertThat(t.decode(ids)).isEqualTo(" café");
        // a growing transcript holds back the first half of é instead of showing U+FFFD
        assertThat(t.decodeComplete(ids, 9)).isEqualTo(" caf");
        assertThat(t.decodeComplete(ids, 10)).isEqualTo(" café");
        // a finished transcript with a broken sequence shows the replacement character, as tiktoken does
        assertThat(t.decode(new long[] {byteToken('a'), e1})).isEqualTo("a\uFFFD");
        assertThatThrownBy(() -> t.decode(new long[] {5000})).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("5000");
    }

    private static long byteToken(int b) {
        int[] order = TinyTiktoken.byteOrder();
        for (int i = 0; i < order.length; i++) {
            if (order[i] == b) {
                return i;
            }
        }
        throw new AssertionError();
    }

    @Test
    void shouldEncodeWithTheLearnedMergesAndDecodeBack() throws IOException {
        // Given the tiny vocabulary written as a tiktoken file
        Path file = tmp.resolve("tiny.tiktoken");
        Files.writeString(file, TinyTiktoken.fileText());
        WhisperTokenizer t = WhisperTokenizer.load(file, TinyTiktoken.nVocab());
        // When text is encoded
        String text = " Thank you for calling, je voudrais un café. Спасибо! 42";
        long[] ids = t.encode(text);
        // Then merges made it shorter than its bytes, and it decodes back exactly
        assertThat(ids.length).isLessThan(text.getBytes(StandardCharsets.UTF_8).length * 3 / 4);
        assertThat(t.decode(ids)).isEqualTo(text);
        assertThat(t.encode(" ")).containsExactly(220);
        // And whisper's non-speech set holds the single-token symbols and the leading " -"
        assertThat(t.nonSpeechTokens()).contains((int) t.encode(" -")[0], (int) t.encode("(")[0],
                (int) t.encode("♪")[0]);
        assertThat(t.nonSpeechTokens()).doesNotContain((int) t.encode(",")[0], (int) t.encode(".")[0]);
    }

    @Test
    void shouldWriteTheSameTinyVocabularyEveryTime() {
        assertThat(TinyTiktoken.fileText()).isEqualTo(TinyTiktoken.fileText());
        assertThat(TinyTiktoken.tokens().size()).isGreaterThan(256 + 100);
        assertThat(TinyTiktoken.nVocab()).isEqualTo(TinyTiktoken.tokens().size() + 100 + 1509);
    }

    @Test
    void shouldNameTheLineOfABrokenVocabularyFile() throws IOException {
        Path bad = tmp.resolve("bad.tiktoken");
        Files.writeString(bad, "IQ== 0\nIg== 2\n");
        assertThatThrownBy(() -> WhisperTokenizer.load(bad, 2000)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("line 2").hasMessageContaining("rank 2");
        Files.writeString(bad, "IQ== 0\n!!notbase64 1\n");
        assertThatThrownBy(() -> WhisperTokenizer.load(bad, 2000)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("line 2").hasMessageContaining("base64 rank");
        Files.writeString(bad, "IQ== 0\nIQ== 1\n");
        assertThatThrownBy(() -> WhisperTokenizer.load(bad, 2000)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("repeats");
        assertThatThrownBy(() -> WhisperTokenizer.load(tmp.resolve("absent"), 2000))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("absent");
    }
}
