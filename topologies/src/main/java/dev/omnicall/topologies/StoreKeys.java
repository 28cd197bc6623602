package dev.omnicall.topologies;

/**
 * Composite state-store keys. Parts are joined by NUL, which no call ID contains, and numbers are
 * zero-padded so that key order is numeric order and a call's entries share a prefix for range scans.
 */
final class StoreKeys {

    static final char SEP = '\u0000';

    private StoreKeys() {
    }

    static String callPrefix(String callId) {
        return callId + SEP;
    }

    static String utterance(String callId, int utteranceId) {
        return callId + SEP + pad(utteranceId);
    }

    static String segment(String callId, int utteranceId, int seq) {
        return utterance(callId, utteranceId) + SEP + pad(seq);
    }

    static String segmentPrefix(String callId, int utteranceId) {
        return utterance(callId, utteranceId) + SEP;
    }

    static String turnAttempt(String callId, int turnId, int attempt) {
        return callId + SEP + pad(turnId) + SEP + pad(attempt);
    }

    static String callIdOf(String key) {
        int i = key.indexOf(SEP);
        return i < 0 ? key : key.substring(0, i);
    }

    private static String pad(int n) {
        if (n < 0) {
            throw new IllegalArgumentException("negative id " + n);
        }
        return String.format("%010d", n);
    }
}
