package dev.omnicall.topologies;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class HeardTextTest {

    private static final String REPLY = "Our opening hours are nine to five, on weekdays.";

    @ParameterizedTest(name = "{0} chars heard -> \"{1}\"")
    @CsvSource(delimiter = '|', value = {
            "0|''",
            "3|Our",              // the cut falls right after a word
            "4|Our",              // ... after a blank: the blank goes
            "6|Our",              // inside "opening": the partial word goes
            "20|Our opening hours", // inside "are"
            "34|Our opening hours are nine to five", // before the comma
            "35|Our opening hours are nine to five,",
            "48|Our opening hours are nine to five, on weekdays.",
            "500|Our opening hours are nine to five, on weekdays.",
    })
    void shouldKeepTheHeardPrefixWithoutAPartialWord(int heard, String expected) {
        assertThat(HeardText.cut(REPLY, heard)).isEqualTo(expected);
    }

    @Test
    void shouldTreatAnApostropheInsideAWordAsPartOfIt() {
        assertThat(HeardText.cut("I don't know", 5)).isEqualTo("I");
        assertThat(HeardText.cut("I don’t know", 7)).isEqualTo("I don’t");
    }

    @Test
    void shouldCutBetweenHanIdeographsWhichAreWordsOfTheirOwn() {
        assertThat(HeardText.cut("营业时间是九点", 4)).isEqualTo("营业时间");
    }

    @Test
    void shouldNeverSplitASurrogatePair() {
        String s = "ok \uD83D\uDE00 fine";   // an emoji is two chars
        assertThat(HeardText.cut(s, 4)).isEqualTo("ok");
    }

    @Test
    void shouldRefuseANegativeLength() {
        assertThatThrownBy(() -> HeardText.cut("x", -1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void shouldGiveAnIdempotentPrefixEndingOnAWordBoundaryForAnyCut() {
        // Against the obvious definition: a prefix, not longer than heard, cut again at the same length unchanged,
        // and where something was cut off the kept text does not end inside a word of the original.
        Random random = new Random(11);
        String[] words = {"a", "hello", "don't", "9", "to", "five,", "x-ray", "über", "¿qué?"};
        for (int n = 0; n < 2000; n++) {
            StringBuilder sb = new StringBuilder();
            for (int w = random.nextInt(8); w >= 0; w--) {
                sb.append(words[random.nextInt(words.length)]).append(random.nextInt(5) == 0 ? "  " : " ");
            }
            String generated = sb.toString().trim();
            int heard = random.nextInt(generated.length() + 3);
            String kept = HeardText.cut(generated, heard);
            assertThat(generated).startsWith(kept);
            assertThat(kept.length()).isLessThanOrEqualTo(heard);
            assertThat(HeardText.cut(kept, heard)).isEqualTo(kept);
            if (kept.length() < generated.length() && !kept.isEmpty()) {
                char last = kept.charAt(kept.length() - 1);
                char next = generated.charAt(kept.length());
                assertThat(Character.isLetterOrDigit(last) && Character.isLetterOrDigit(next))
                        .as("\"%s\" cut at %d kept \"%s\"", generated, heard, kept).isFalse();
                assertThat(Character.isWhitespace(last)).isFalse();
            }
        }
    }
}
