package dev.omnicall.topologies;

import dev.omnicall.events.Dtmf;
import dev.omnicall.events.Transcript;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

class TranscriptRedactorTest {

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "Your card 4111111111111111 is on file|Your card XXXXXXXXXXXX1111 is on file",
            "card 4111 1111 1111 1111.|card XXXX XXXX XXXX 1111.",
            "card 5500-0000-0000-0004 ok|card XXXX-XXXX-XXXX-0004 ok",
            "amex 378282246310005|amex XXXXXXXXXXX0005",
    })
    void shouldMaskCardNumberLikeRunsButTheLastFourDigits(String in, String out) {
        assertThat(TranscriptRedactor.redactText(in)).isEqualTo(out);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "Call 555 0100 tomorrow",
            "order 123456789012 shipped",
            "It costs 1999 dollars",
            "a 20-digit reference 12345678901234567890 is not a card",
    })
    void shouldLeaveShorterOrLongerNumbersAlone(String in) {
        assertThat(TranscriptRedactor.redactText(in)).isEqualTo(in);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            // spelled out, as Whisper writes what a caller reads from a card
            "four one one one one one one one one one one one one one one one|X X X X X X X X X X X X one one one one",
            "It's four one one one, one one one one, one one one one, one one one one.|It's X X X X, X X X X, X X X X, one one one one.",
            "Four-one-one-one one-one-one-one one-one-one-one one-one-one-one|X-X-X-X X-X-X-X X-X-X-X one-one-one-one",
            // "oh", "o" and "zero" for 0, any case
            "FIVE FIVE oh oh, zero zero zero zero, O O O O, zero zero zero four|X X X X, X X X X, X X X X, zero zero zero four",
            "nought nought nought nought nought nought nought nought nought nought nought nought nought|X X X X X X X X X nought nought nought nought",
            // digits and words mixed, with and without blanks
            "4 one 1 one 1 one 1 one 1 one 1 one 1 one 1 one|X X X X X X X X X X X X 1 one 1 one",
            "4111 one one one one 1111 one one one one|XXXX X X X X XXXX one one one one",
            "card 4one11 1111 1111 1111|card XXXX XXXX XXXX 1111",
            // double / triple
            "four double one one triple one, one one one one, one one one one|X XX X XXX, X X X X, one one one one",
            "four one one one one one one one one one one one one one double one|X X X X X X X X X X X X one one double one",
            "four one one one one one one one one one one double one one one one|X X X X X X X X X X X X1 one one one",
            "double four one one one one one one one one one one one one one one|XX X X X X X X X X X X one one one one",
            // a separated run longer than 19 digits is still masked (spoken or grouped digits are no reference)
            "1234 5678 9012 3456 7890|XXXX XXXX XXXX XXXX 7890",
            "Card 4111 1111 1111 1111, CVV 123|Card XXXX XXXX XXXX 1111, CVV 123",
    })
    void shouldMaskSpokenAndMixedCardNumbersButTheLastFourDigits(String in, String out) {
        assertThat(TranscriptRedactor.redactText(in)).isEqualTo(out);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "We are open nine to five, Monday to Friday",
            "one or two of them, maybe three",
            "Call five five five, oh one hundred, or five five five, oh one nine nine",
            "My number is oh seven seven double oh, nine eight six five four three",
            "The one I bought cost one ninety-nine",
            "Ten, nine, eight, seven, six, five, four, three, two, one, lift off",
            "It was 9:30, 10:45 and 11:15",
            "The total is 1,299.99 dollars",
            "Order 1234-5678-9012 is ready",
            "O'Brien bought one at 4 and two at 5",
            "reference 12345678901234567890 and then 1",
    })
    void shouldLeaveShortNumbersTimesAndWordsAlone(String in) {
        assertThat(TranscriptRedactor.redactText(in)).isEqualTo(in);
    }

    @Test
    void shouldMaskEveryDtmfDigit() {
        assertThat(TranscriptRedactor.redactDtmf("1234#")).isEqualTo("XXXXX");
    }

    @Test
    void shouldRedactTheTranscriptsTopicOnlyWhenSwitchedOn(@TempDir Path stateDir) {
        for (boolean on : new boolean[]{false, true}) {
            try (ConversationDriver d = new ConversationDriver(
                    ConversationConfig.defaults().withRedactedTranscripts(on), stateDir.resolve("r" + on))) {
                d.events.pipeInput("c", ConversationDriver.event("c", new Dtmf("7", 80)));
                d.sendUtterance("c", 0, 1, 160);
                d.reply("c", 0, 0, "I have 4111 1111 1111 1111 on file");

                var all = d.transcripts.readValuesToList();
                Transcript last = all.get(all.size() - 1);
                if (on) {
                    assertThat(last.getDtmf()).isEqualTo("X");
                    assertThat(last.getTurns().get(0).getAssistantText()).isEqualTo("I have XXXX XXXX XXXX 1111 on file");
                } else {
                    assertThat(last.getDtmf()).isEqualTo("7");
                    assertThat(last.getTurns().get(0).getAssistantText()).contains("4111 1111 1111 1111");
                }
            }
        }
    }
}
