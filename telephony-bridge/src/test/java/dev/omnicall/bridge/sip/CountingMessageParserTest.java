package dev.omnicall.bridge.sip;

import dev.omnicall.bridge.BridgeMetrics;
import gov.nist.javax.sip.message.SIPMessage;
import gov.nist.javax.sip.message.SIPRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.text.ParseException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CountingMessageParserTest {

    private static final String OPTIONS = "OPTIONS sip:bot@127.0.0.1 SIP/2.0\r\n"
            + "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n"
            + "From: <sip:a@127.0.0.1>;tag=1\r\n"
            + "To: <sip:bot@127.0.0.1>\r\n"
            + "Call-ID: c1@127.0.0.1\r\n"
            + "CSeq: 1 OPTIONS\r\n"
            + "%s"
            + "Content-Length: 0\r\n\r\n";

    private final BridgeMetrics metrics = BridgeMetrics.inMemory();
    private final CountingMessageParserFactory.CountingMessageParser parser =
            new CountingMessageParserFactory.CountingMessageParser(metrics);

    private SIPMessage parse(String text) throws ParseException {
        return parser.parseSIPMessage(text.getBytes(StandardCharsets.ISO_8859_1), true, false, (e, m, c, h, t) -> { });
    }

    @Test
    void shouldParseWellFormedRequestWithoutCounting_rfc3261_8_1_1() throws Exception {
        SIPMessage m = parse(String.format(OPTIONS, ""));

        assertThat(m).isInstanceOf(SIPRequest.class);
        assertThat(((SIPRequest) m).getMethod()).isEqualTo("OPTIONS");
        assertThat(m.getCallId().getCallId()).isEqualTo("c1@127.0.0.1");
        assertThat(metrics.registry().getMeters()).isEmpty();
    }

    @Test
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void shouldRefuseViaCommentEndingInBackslash_regressionJainSipViaParserOutOfMemory() {
        // Found by SipMessageFuzzTest: JAIN-SIP 1.3.0-91 loops until OutOfMemoryError on this Via
        String hostile = String.format(OPTIONS, "Via: SIP/2.0/UDP 1.2.3.4 (c\\\r\n");

        assertThatThrownBy(() -> parse(hostile)).isInstanceOf(ParseException.class).hasMessageContaining("backslash");
        assertThat(metrics.count("omnicall_bridge_sip_malformed_total", "kind", "hostile_header")).isEqualTo(1);
    }

    @Test
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void shouldRefuseViaCommentEndingInBackslashBeforeControlBytes_regressionFoundByCiFuzzing() {
        // Found by the CI fuzz run: the stack trims the value (all bytes up to U+0020, NUL included), so the
        // comment still ends in a backslash and the Via parser appends until OutOfMemoryError
        String hostile = String.format(OPTIONS, "Via: SIP/2.0/UDP 1.2.3.4 (c\\\u0000\u0000\t\r\n");

        assertThatThrownBy(() -> parse(hostile)).isInstanceOf(ParseException.class).hasMessageContaining("backslash");
        assertThat(metrics.count("omnicall_bridge_sip_malformed_total", "kind", "hostile_header")).isEqualTo(1);
        byte[] lineOfNuls = "INVITE sip:b SIP/2.0\r\n\u0000\r\nVia: x (c\\\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);
        assertThat(CountingMessageParserFactory.CountingMessageParser.headerLineEndingInBackslash(lineOfNuls))
                .as("a line of NULs ends the headers for the stack too").isEqualTo(-1);
        byte[] loneCr = "INVITE sip:b SIP/2.0\r\nVia: x (c\\\u0000\r\u0000=y\n\r\n".getBytes(StandardCharsets.ISO_8859_1);
        assertThat(CountingMessageParserFactory.CountingMessageParser.headerLineEndingInBackslash(loneCr))
                .as("a lone CR ends the stack's header line: the Via line ends in a backslash").isEqualTo(2);
        assertThatThrownBy(() -> parse(new String(loneCr, StandardCharsets.ISO_8859_1)))
                .isInstanceOf(ParseException.class).hasMessageContaining("backslash");
    }

    @Test
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void shouldRefuseTheViaAfterALeadingLineFeed_regressionFoundByCiFuzzingInSession30() {
        // Found by the CI fuzz run: a line feed before the start line, which the stack skips, was taken for the
        // empty line that ends the headers, so the Via ending in a backslash went to the parser (OutOfMemoryError)
        byte[] leadingLf = "\nINVITE sip:b SIP/2.0\r\nVia: SIP/2.0/UDP h (c\\\u0000\r\u0000\r\n\r\n"
                .getBytes(StandardCharsets.ISO_8859_1);
        assertThat(CountingMessageParserFactory.CountingMessageParser.headerLineEndingInBackslash(leadingLf)).isEqualTo(2);
        assertThatThrownBy(() -> parse(new String(leadingLf, StandardCharsets.ISO_8859_1)))
                .isInstanceOf(ParseException.class).hasMessageContaining("backslash");
        byte[] keepAlive = "\r\n\r\nINVITE sip:b SIP/2.0\r\nVia: x (c\\\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);
        assertThat(CountingMessageParserFactory.CountingMessageParser.headerLineEndingInBackslash(keepAlive))
                .as("keep-alive CRLFs before the start line").isEqualTo(2);
    }

    @Test
    void shouldNotLookForBackslashesInTheBody() {
        byte[] msg = "INVITE sip:b SIP/2.0\r\nVia: x\r\n\r\nbody ends in \\\r\n".getBytes(StandardCharsets.ISO_8859_1);
        assertThat(CountingMessageParserFactory.CountingMessageParser.headerLineEndingInBackslash(msg)).isEqualTo(-1);
        byte[] hdr = "INVITE sip:b SIP/2.0\r\nVia: x \\ \r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);
        assertThat(CountingMessageParserFactory.CountingMessageParser.headerLineEndingInBackslash(hdr)).isEqualTo(2);
    }

    @Test
    void shouldCountUnparseableStartLineAndBrokenHeader() {
        // the stack's parser hands a bad start line or header to its exception listener, or throws
        for (String junk : new String[]{"HELLO WORLD\r\n\r\n", String.format(OPTIONS, "CSeq: x y z\r\n")}) {
            try {
                parse(junk);
            } catch (ParseException expected) {
                // counted as parse_error
            }
        }
        double counted = metrics.count("omnicall_bridge_sip_malformed_total", "kind", "parse_error")
                + metrics.count("omnicall_bridge_sip_malformed_total", "kind", "bad_header");
        assertThat(counted).isEqualTo(2);
    }
}
