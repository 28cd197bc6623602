package dev.omnicall.bridge.sip;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * SIP digest authentication (RFC 3261 §22.4, with the RFC 2617 §3.2.2 computation, MD5, qop "auth" or
 * none). Nonces are stateless: a timestamp plus an HMAC of it under a per-process secret, so a nonce
 * cannot be forged and expires after {@link #NONCE_LIFETIME_MS} without a server-side table.
 */
public final class DigestAuthenticator {

    public static final long NONCE_LIFETIME_MS = 5 * 60_000;
    private static final int MAC_BYTES = 16;

    /** The verdict on one Authorization header. */
    public enum Verdict {
        OK, WRONG_REALM, UNKNOWN_USER, BAD_NONCE, STALE_NONCE, UNSUPPORTED, BAD_RESPONSE;
    }

    /** The fields of an Authorization header that the computation reads; null when absent. */
    public record Credentials(String username, String realm, String nonce, String uri, String response,
                              String algorithm, String qop, String nc, String cnonce) {
    }

    private final String realm;
    private final Map<String, String> passwords;
    private final byte[] secret;
    private final LongSupplier clockMs;

    public DigestAuthenticator(String realm, Map<String, String> passwords, LongSupplier clockMs) {
        if (realm == null || realm.isBlank() || realm.contains("\"")) {
            throw new IllegalArgumentException("digest realm must be non-blank and must not contain '\"'");
        }
        if (passwords.isEmpty()) {
            throw new IllegalArgumentException("digest auth needs at least one user");
        }
        this.realm = realm;
        this.passwords = Map.copyOf(passwords);
        this.secret = new byte[32];
        new SecureRandom().nextBytes(secret);
        this.clockMs = clockMs;
    }

    public DigestAuthenticator(String realm, Map<String, String> passwords) {
        this(realm, passwords, System::currentTimeMillis);
    }

    public String realm() {
        return realm;
    }

    /** A fresh nonce: base64url(8-byte timestamp ‖ first 16 bytes of HMAC-SHA256(secret, timestamp)). */
    public String newNonce() {
        long now = clockMs.getAsLong();
        ByteBuffer buf = ByteBuffer.allocate(8 + MAC_BYTES);
        buf.putLong(now).put(mac(now), 0, MAC_BYTES);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(buf.array());
    }

    /** The WWW-Authenticate value of a 401 (RFC 3261 §22.4 / RFC 2617 §3.2.1). */
    public String challenge(boolean stale) {
        return "Digest realm=\"" + realm + "\", nonce=\"" + newNonce() + "\", algorithm=MD5, qop=\"auth\""
                + (stale ? ", stale=true" : "");
    }

    public Verdict verify(String method, Credentials c) {
        if (!realm.equals(c.realm())) {
            return Verdict.WRONG_REALM;
        }
        String password = c.username() == null ? null : passwords.get(c.username());
        if (password == null) {
            return Verdict.UNKNOWN_USER;
        }
        Verdict nonce = checkNonce(c.nonce());
        if (nonce != Verdict.OK) {
            return nonce;
        }
        if (c.algorithm() != null && !"MD5".equalsIgnoreCase(c.algorithm())) {
            return Verdict.UNSUPPORTED;
        }
        if (c.uri() == null || c.response() == null) {
            return Verdict.BAD_RESPONSE;
        }
        String ha1 = md5Hex(c.username() + ":" + realm + ":" + password);
        String ha2 = md5Hex(method + ":" + c.uri());
        String expected;
        if (c.qop() == null) {
            expected = md5Hex(ha1 + ":" + c.nonce() + ":" + ha2);
        } else if ("auth".equalsIgnoreCase(c.qop())) {
            if (c.nc() == null || c.cnonce() == null) {
                return Verdict.BAD_RESPONSE;
            }
            expected = md5Hex(ha1 + ":" + c.nonce() + ":" + c.nc() + ":" + c.cnonce() + ":auth:" + ha2);
        } else {
            return Verdict.UNSUPPORTED; // auth-int would need the body hash; we do not offer it
        }
        boolean match = MessageDigest.isEqual(expected.getBytes(StandardCharsets.US_ASCII),
                c.response().toLowerCase().getBytes(StandardCharsets.US_ASCII));
        return match ? Verdict.OK : Verdict.BAD_RESPONSE;
    }

    private Verdict checkNonce(String nonce) {
        if (nonce == null) {
            return Verdict.BAD_NONCE;
        }
        byte[] raw;
        try {
            raw = Base64.getUrlDecoder().decode(nonce);
        } catch (IllegalArgumentException e) {
            return Verdict.BAD_NONCE;
        }
        if (raw.length != 8 + MAC_BYTES) {
            return Verdict.BAD_NONCE;
        }
        ByteBuffer buf = ByteBuffer.wrap(raw);
        long issued = buf.getLong();
        byte[] given = new byte[MAC_BYTES];
        buf.get(given);
        byte[] expected = new byte[MAC_BYTES];
        System.arraycopy(mac(issued), 0, expected, 0, MAC_BYTES);
        if (!MessageDigest.isEqual(given, expected)) {
            return Verdict.BAD_NONCE;
        }
        long age = clockMs.getAsLong() - issued;
        return age < 0 || age > NONCE_LIFETIME_MS ? Verdict.STALE_NONCE : Verdict.OK;
    }

    private byte[] mac(long timestamp) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            return mac.doFinal(ByteBuffer.allocate(8).putLong(timestamp).array());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    static String md5Hex(String s) {
        try {
            MessageDigest md5 = MessageDigest.getInstance("MD5");
            return HexFormat.of().formatHex(md5.digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is part of every JDK", e);
        }
    }
}
