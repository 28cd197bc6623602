package dev.omnicall.topologies;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Masks what analytics consumers of the transcripts topic must not see (PCI-DSS): card-number-like runs keep
 * only their last four digits; DTMF digits (often a PIN or a card number keyed in) are replaced entirely.
 *
 * <p>A run is a sequence of digit units joined by separators. A unit is a string of ASCII digits (each digit
 * counts), a spoken digit ({@code zero oh o nought one two ... nine}, any case), or {@code double}/{@code triple}
 * before a spoken digit or a single digit ({@code "double four"} counts as two 4s). A separator is up to
 * three characters of blanks, dashes and commas (so {@code "4111-1111"}, {@code "four, one, one"} and
 * {@code "4 one 1 one"} join), or nothing between a digit string and a word. A run of 13 to 19 digits is
 * masked; so is a longer run made of several units (spoken or grouped digits are not a reference number,
 * and masking too much is the safe side). A single digit string longer than 19 is a reference, not a card,
 * and is left alone; it also ends a run. Any other word ({@code to}, {@code and}, {@code ten}, {@code thirty})
 * or character ends a run, so {@code "nine to five"}, times, prices and phone numbers stay as they are.
 *
 * <p>Masked digits become {@value #MASK}: each masked digit character, each masked spoken digit word. A
 * {@code double}/{@code triple} unit that is masked entirely becomes two or three {@value #MASK}s; one that
 * straddles the last four becomes its digits, masked ones as {@value #MASK} ({@code "double four"} →
 * {@code "X4"}).
 */
public final class TranscriptRedactor {

    static final char MASK = 'X';
    private static final int MIN_CARD_DIGITS = 13;
    private static final int MAX_CARD_DIGITS = 19;
    private static final int KEPT_DIGITS = 4;
    private static final int MAX_SEPARATOR_CHARS = 3;

    private static final Map<String, Character> SPOKEN_DIGITS = Map.ofEntries(
            Map.entry("zero", '0'), Map.entry("oh", '0'), Map.entry("o", '0'), Map.entry("nought", '0'),
            Map.entry("one", '1'), Map.entry("two", '2'), Map.entry("three", '3'), Map.entry("four", '4'),
            Map.entry("five", '5'), Map.entry("six", '6'), Map.entry("seven", '7'), Map.entry("eight", '8'),
            Map.entry("nine", '9'));
    private static final Map<String, Integer> REPEATS = Map.of("double", 2, "triple", 3);

    private TranscriptRedactor() {
    }

    /** One digit unit: the text span [start, end) and the digits it stands for. */
    private record Unit(int start, int end, String digits, Kind kind) {
    }

    private enum Kind { DIGITS, WORD, REPEATED }

    public static String redactText(String text) {
        if (text == null || text.isEmpty()) {
            return text;
        }
        List<Unit> units = units(text);
        StringBuilder out = new StringBuilder(text.length());
        int copied = 0;
        int i = 0;
        while (i < units.size()) {
            int j = i + 1;
            while (j < units.size() && joined(text, units.get(j - 1), units.get(j))) {
                j++;
            }
            List<Unit> run = units.subList(i, j);
            int digits = run.stream().mapToInt(u -> u.digits().length()).sum();
            boolean cardLike = digits >= MIN_CARD_DIGITS && (digits <= MAX_CARD_DIGITS || run.size() > 1);
            if (cardLike) {
                int seen = 0;
                for (Unit u : run) {
                    out.append(text, copied, u.start());
                    out.append(masked(text, u, digits - KEPT_DIGITS - seen));
                    seen += u.digits().length();
                    copied = u.end();
                }
            }
            i = j;
        }
        out.append(text, copied, text.length());
        return out.toString();
    }

    public static String redactDtmf(String digits) {
        return digits == null ? null : String.valueOf(MASK).repeat(digits.length());
    }

    /** The unit's text with its first {@code toMask} digits masked (none when zero or less). */
    private static String masked(String text, Unit u, int toMask) {
        String original = text.substring(u.start(), u.end());
        if (toMask <= 0) {
            return original;
        }
        switch (u.kind()) {
            case DIGITS -> {
                StringBuilder sb = new StringBuilder(original);
                for (int k = 0; k < Math.min(toMask, sb.length()); k++) {
                    sb.setCharAt(k, MASK);
                }
                return sb.toString();
            }
            case WORD -> {
                return String.valueOf(MASK);
            }
            default -> {
                StringBuilder sb = new StringBuilder(u.digits());
                for (int k = 0; k < Math.min(toMask, sb.length()); k++) {
                    sb.setCharAt(k, MASK);
                }
                return sb.toString();
            }
        }
    }

    /** Whether two neighbouring units belong to one run: only separator characters, few, between them. */
    private static boolean joined(String text, Unit a, Unit b) {
        if (a.kind() == Kind.DIGITS && a.digits().length() > MAX_CARD_DIGITS
                || b.kind() == Kind.DIGITS && b.digits().length() > MAX_CARD_DIGITS) {
            return false;
        }
        int gap = b.start() - a.end();
        if (gap == 0) {
            return true;   // "4one": a digit string and a word touching
        }
        if (gap > MAX_SEPARATOR_CHARS) {
            return false;
        }
        for (int k = a.end(); k < b.start(); k++) {
            if (!isSeparator(text.charAt(k))) {
                return false;
            }
        }
        return true;
    }

    private static boolean isSeparator(char c) {
        return c == ' ' || c == '\t' || c == '\u00a0' || c == '-' || c == '\u2010' || c == '\u2011' || c == '\u2013'
                || c == '\u2014' || c == ',';
    }

    /** The digit units of the text, in order. Words that are not spoken digits are not units. */
    private static List<Unit> units(String text) {
        List<Unit> units = new ArrayList<>();
        int i = 0;
        int n = text.length();
        while (i < n) {
            char c = text.charAt(i);
            if (c >= '0' && c <= '9') {
                int j = i;
                while (j < n && text.charAt(j) >= '0' && text.charAt(j) <= '9') {
                    j++;
                }
                units.add(new Unit(i, j, text.substring(i, j), Kind.DIGITS));
                i = j;
            } else if (Character.isLetter(c)) {
                int j = wordEnd(text, i);
                String word = text.substring(i, j).toLowerCase(Locale.ROOT);
                Character digit = SPOKEN_DIGITS.get(word);
                Integer repeat = REPEATS.get(word);
                if (digit != null) {
                    units.add(new Unit(i, j, String.valueOf(digit), Kind.WORD));
                    i = j;
                } else if (repeat != null && repeated(text, j, repeat, units, i)) {
                    i = units.get(units.size() - 1).end();
                } else {
                    i = j;   // a plain word: the letters left between two units end the run
                }
            } else {
                i++;
            }
        }
        return units;
    }

    /**
     * "double"/"triple" at [start, afterWord) followed by blanks and a spoken digit or a single digit: adds
     * the unit covering both and returns true.
     */
    private static boolean repeated(String text, int afterWord, int times, List<Unit> units, int start) {
        int k = afterWord;
        while (k < text.length() && (text.charAt(k) == ' ' || text.charAt(k) == '-')) {
            k++;
        }
        if (k == afterWord || k >= text.length()) {
            return false;
        }
        char c = text.charAt(k);
        if (c >= '0' && c <= '9' && (k + 1 >= text.length() || !Character.isLetterOrDigit(text.charAt(k + 1)))) {
            units.add(new Unit(start, k + 1, String.valueOf(c).repeat(times), Kind.REPEATED));
            return true;
        }
        if (Character.isLetter(c)) {
            int end = wordEnd(text, k);
            Character digit = SPOKEN_DIGITS.get(text.substring(k, end).toLowerCase(Locale.ROOT));
            if (digit != null) {
                units.add(new Unit(start, end, String.valueOf(digit).repeat(times), Kind.REPEATED));
                return true;
            }
        }
        return false;
    }

    private static int wordEnd(String text, int i) {
        int j = i;
        while (j < text.length() && (Character.isLetter(text.charAt(j))
                || (text.charAt(j) == '\'' || text.charAt(j) == '\u2019') && j + 1 < text.length()
                && Character.isLetter(text.charAt(j + 1)))) {
            j++;
        }
        return j;
    }
}
