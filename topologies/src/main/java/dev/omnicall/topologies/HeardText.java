package dev.omnicall.topologies;

/**
 * What the caller heard of a barged-in reply: the bridge reports how many characters of the attempt's text
 * were voiced by the last audio chunk it played to its end ({@code BargeIn.playedTextChars}); the transcript
 * and the conversation context keep that prefix, cut back so that no partial word remains.
 *
 * <p>A word is a run of letters, digits and in-word apostrophes. Han ideographs are words of their own
 * (Chinese and Japanese put no spaces between words), so a cut between two of them splits nothing.
 */
final class HeardText {

    private HeardText() {
    }

    /**
     * The first {@code heardChars} characters of {@code generated}, shortened to the last whole word and with
     * trailing blanks removed; the whole text when {@code heardChars} reaches its end. The result is a prefix
     * of {@code generated}, and cutting it again at the same length changes nothing.
     */
    static String cut(String generated, int heardChars) {
        if (heardChars < 0) {
            throw new IllegalArgumentException("heardChars must be >= 0, got " + heardChars);
        }
        if (heardChars >= generated.length()) {
            return generated;
        }
        int end = heardChars;
        if (end > 0 && Character.isHighSurrogate(generated.charAt(end - 1))) {
            end--;   // never split a surrogate pair
        }
        if (end > 0 && inWord(generated, end - 1) && inWord(generated, end)) {
            while (end > 0 && inWord(generated, end - 1)) {
                end--;   // the cut fell inside a word: the caller did not hear all of it
            }
        }
        while (end > 0 && Character.isWhitespace(generated.charAt(end - 1))) {
            end--;
        }
        return generated.substring(0, end);
    }

    /** Whether the character at {@code i} continues a word across a cut before or after it. */
    private static boolean inWord(String s, int i) {
        int cp = s.codePointAt(i);
        if (Character.isLowSurrogate(s.charAt(i)) && i > 0) {
            cp = s.codePointAt(i - 1);
        }
        if (Character.isIdeographic(cp)) {
            return false;
        }
        return Character.isLetterOrDigit(cp) || cp == '\'' || cp == '\u2019' || Character.getType(cp) == Character.NON_SPACING_MARK;
    }
}
