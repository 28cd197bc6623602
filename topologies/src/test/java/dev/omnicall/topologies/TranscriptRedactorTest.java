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
