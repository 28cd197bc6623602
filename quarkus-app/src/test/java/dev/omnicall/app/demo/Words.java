package dev.omnicall.app.demo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** Text as recognizers compare it: lower-case words, punctuation dropped; word edit distance and WER. */
public final class Words {

    private Words() {
    }

    /** "Hello, thank you." -> [hello, thank, you] (apostrophes kept, as the CMU dictionary spells words). */
    public static List<String> of(String text) {
        String cleaned = text.toLowerCase(Locale.ROOT).replaceAll("[^a-z']+", " ").trim();
        return cleaned.isEmpty() ? List.of() : new ArrayList<>(Arrays.asList(cleaned.split(" ")));
    }

    public static String normalized(String text) {
        return String.join(" ", of(text));
    }

    /** Levenshtein distance over words: substitutions + deletions + insertions to turn ref into hyp. */
    public static int editDistance(List<String> ref, List<String> hyp) {
        int[] d = new int[hyp.size() + 1];
        for (int j = 0; j <= hyp.size(); j++) {
            d[j] = j;
        }
        for (int i = 1; i <= ref.size(); i++) {
            int diagonal = d[0];
            d[0] = i;
            for (int j = 1; j <= hyp.size(); j++) {
                int above = d[j];
                d[j] = Math.min(Math.min(d[j] + 1, d[j - 1] + 1), diagonal + (ref.get(i - 1).equals(hyp.get(j - 1)) ? 0 : 1));
                diagonal = above;
            }
        }
        return d[hyp.size()];
    }

    /** Word errors and reference words summed over several utterances: WER = errors / words. */
    public static final class Tally {
        private int errors;
        private int words;

        public void add(String reference, String hypothesis) {
            List<String> ref = of(reference);
            errors += editDistance(ref, of(hypothesis));
            words += ref.size();
        }

        public int errors() {
            return errors;
        }

        public int words() {
            return words;
        }

        public double wer() {
            return words == 0 ? Double.NaN : errors / (double) words;
        }
    }
}
