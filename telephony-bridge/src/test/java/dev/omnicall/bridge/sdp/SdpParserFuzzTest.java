package dev.omnicall.bridge.sdp;

import com.code_intelligence.jazzer.junit.FuzzTest;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Jazzer target for the SDP path of an INVITE: parse, negotiate, answer. Under plain {@code mvn test}
 * it replays the seeds in {@code SdpParserFuzzTestInputs/} (real offers captured from sipp and baresip);
 * with {@code JAZZER_FUZZ=1} it fuzzes.
 */
class SdpParserFuzzTest {

    private static final SdpNegotiator NEGOTIATOR = new SdpNegotiator(List.of(AudioCodec.PCMU, AudioCodec.PCMA));

    @FuzzTest(maxDuration = "60s")
    void parseNeverThrows(byte[] body) {
        // Any bytes: a value comes back, never an exception
        SdpParseResult result = SdpParser.parse(body);
        assertThat(result).isNotNull();
        if (!(result instanceof SdpParseResult.Parsed parsed)) {
            return;
        }
        // A parsed offer negotiates without throwing; an agreed one yields an answer our parser accepts
        Negotiation n = NEGOTIATOR.negotiate(parsed.description());
        if (n instanceof Negotiation.Agreed agreed) {
            NegotiatedMedia m = agreed.media();
            assertThat(m.ptimeMs()).isIn(20, 30);
            String answer = SdpAnswerBuilder.build(parsed.description(), m, "127.0.0.1", 20000, 1, 0,
                    m.answerDirection());
            assertThat(SdpParser.parse(answer)).isInstanceOf(SdpParseResult.Parsed.class);
        }
    }
}
