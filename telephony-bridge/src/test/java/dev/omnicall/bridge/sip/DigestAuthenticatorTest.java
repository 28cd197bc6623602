package dev.omnicall.bridge.sip;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

class DigestAuthenticatorTest {

    private final AtomicLong now = new AtomicLong(1_700_000_000_000L);
    private final DigestAuthenticator auth = new DigestAuthenticator("omnicall.test", Map.of("alice", "s3cret"), now::get);

    private static String respond(String user, String realm, String password, String method, String uri, String nonce,
                                  String nc, String cnonce) {
        String ha1 = DigestAuthenticator.md5Hex(user + ":" + realm + ":" + password);
        String ha2 = DigestAuthenticator.md5Hex(method + ":" + uri);
        return DigestAuthenticator.md5Hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2);
    }

    @Test
    void shouldComputeRfc2617Section3_5ExampleResponse() {
        // RFC 2617 §3.5: Mufasa / Circle Of Life, qop=auth; the expected response is printed in the RFC
        String ha1 = DigestAuthenticator.md5Hex("Mufasa:testrealm@host.com:Circle Of Life");
        String ha2 = DigestAuthenticator.md5Hex("GET:/dir/index.html");
        String response = DigestAuthenticator.md5Hex(ha1 + ":dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:" + ha2);
        assertThat(response).isEqualTo("6629fae49393a05397450978507c4ef1");
    }

    @Test
    void shouldAcceptCorrectQopAuthResponse() {
        String nonce = auth.newNonce();
        String uri = "sip:bot@127.0.0.1:5060";
        var c = new DigestAuthenticator.Credentials("alice", "omnicall.test", nonce, uri,
                respond("alice", "omnicall.test", "s3cret", "INVITE", uri, nonce, "00000001", "abc"), "MD5", "auth",
                "00000001", "abc");
        assertThat(auth.verify("INVITE", c)).isEqualTo(DigestAuthenticator.Verdict.OK);
    }

    @Test
    void shouldAcceptRfc2069ResponseWithoutQop() {
        String nonce = auth.newNonce();
        String uri = "sip:bot@h";
        String ha1 = DigestAuthenticator.md5Hex("alice:omnicall.test:s3cret");
        String ha2 = DigestAuthenticator.md5Hex("INVITE:" + uri);
        var c = new DigestAuthenticator.Credentials("alice", "omnicall.test", nonce, uri,
                DigestAuthenticator.md5Hex(ha1 + ":" + nonce + ":" + ha2), null, null, null, null);
        assertThat(auth.verify("INVITE", c)).isEqualTo(DigestAuthenticator.Verdict.OK);
    }

    @Test
    void shouldRejectWrongPasswordUnknownUserForgedAndStaleNonce() {
        String nonce = auth.newNonce();
        String uri = "sip:bot@h";
        var wrongPassword = new DigestAuthenticator.Credentials("alice", "omnicall.test", nonce, uri,
                respond("alice", "omnicall.test", "guess", "INVITE", uri, nonce, "00000001", "x"), null, "auth", "00000001", "x");
        assertThat(auth.verify("INVITE", wrongPassword)).isEqualTo(DigestAuthenticator.Verdict.BAD_RESPONSE);

        var unknown = new DigestAuthenticator.Credentials("mallory", "omnicall.test", nonce, uri, "00", null, null, null, null);
        assertThat(auth.verify("INVITE", unknown)).isEqualTo(DigestAuthenticator.Verdict.UNKNOWN_USER);

        var forged = new DigestAuthenticator.Credentials("alice", "omnicall.test", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri,
                "00", null, null, null, null);
        assertThat(auth.verify("INVITE", forged)).isEqualTo(DigestAuthenticator.Verdict.BAD_NONCE);

        now.addAndGet(DigestAuthenticator.NONCE_LIFETIME_MS + 1);
        var stale = new DigestAuthenticator.Credentials("alice", "omnicall.test", nonce, uri,
                respond("alice", "omnicall.test", "s3cret", "INVITE", uri, nonce, "00000001", "x"), null, "auth", "00000001", "x");
        assertThat(auth.verify("INVITE", stale)).isEqualTo(DigestAuthenticator.Verdict.STALE_NONCE);
    }

    @Test
    void shouldChallengeWithRealmNonceAndQop_rfc3261_22_4() {
        assertThat(auth.challenge(false)).startsWith("Digest realm=\"omnicall.test\", nonce=\"")
                .contains("algorithm=MD5").contains("qop=\"auth\"").doesNotContain("stale");
        assertThat(auth.challenge(true)).endsWith(", stale=true");
    }
}
