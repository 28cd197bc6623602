package dev.omnicall.topologies;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Masks what analytics consumers of the transcripts topic must not see (PCI-DSS): runs of 13 to 19 digits,
 * possibly broken by spaces or dashes as people write card numbers, keep only their last four digits; DTMF
 * digits (often a PIN or a card number keyed in) are replaced entirely.
 */
public final class TranscriptRedactor {

    /** 13-19 digits, single spaces or dashes allowed between them; not part of a longer number. */
    private static final Pattern CARD_LIKE = Pattern.compile("(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])");
    static final char MASK = 'X';

    private TranscriptRedactor() {
    }

    public static String redactText(String text) {
        if (text == null || text.isEmpty()) {
            return text;
        }
        Matcher m = CARD_LIKE.matcher(text);
        StringBuilder out = new StringBuilder(text.length());
        while (m.find()) {
            m.appendReplacement(out, Matcher.quoteReplacement(maskAllButLastFour(m.group())));
        }
        m.appendTail(out);
        return out.toString();
    }

    public static String redactDtmf(String digits) {
        return digits == null ? null : String.valueOf(MASK).repeat(digits.length());
    }

    private static String maskAllButLastFour(String run) {
        int digits = (int) run.chars().filter(Character::isDigit).count();
        StringBuilder sb = new StringBuilder(run.length());
        int seen = 0;
        for (char c : run.toCharArray()) {
            if (Character.isDigit(c)) {
                seen++;
                sb.append(seen > digits - 4 ? c : MASK);
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
