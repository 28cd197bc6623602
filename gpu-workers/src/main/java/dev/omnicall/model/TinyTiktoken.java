package dev.omnicall.model;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The tiny checkpoint's Whisper vocabulary, in the tiktoken format of {@code multilingual.tiktoken}: the 256
 * single bytes in GPT-2's byte order (ranks 0-255, printable bytes first, so " " is 220 as in the real
 * file), then {@link #MERGES} byte-pair merges learned from a few call-centre sentences (the most frequent
 * adjacent pair first; ties by the lower ranks). It does not depend on the seed: the same file every time.
 * With whisper's 1609 special tokens for all 100 languages, the tiny decoder's n_vocab is
 * {@link #nVocab()} (= base + 1609).
 */
final class TinyTiktoken {
    /** Merges learned (fewer if the corpus runs out of repeated pairs). */
    static final int MERGES = 300;
    private static final Pattern PIECES = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);
    private static final String CORPUS = """
            Hello, thank you for calling. How can I help you today? I would like to check the status of my order.
            Can you tell me your order number, please? It is four five seven two. Thank you, one moment please.
            Your order was shipped yesterday and should arrive on Friday. That is great, thank you very much.
            I want to change the address on my account. Of course, what is the new address? My card was charged
            twice for the same order. I am sorry to hear that, let me look into it for you. Could you repeat that?
            I did not catch the last part. The line is bad, can you hear me now? Yes, I can hear you now.
            I would like to cancel my subscription. Are you sure? You will lose the discount on your next bill.
            What time does the store open tomorrow morning? We open at nine and close at six in the evening.
            Is there anything else I can help you with? No, that is all. Thank you for your help, goodbye.
            Please hold while I transfer your call to the billing team. The waiting time is about two minutes.
            I have a question about my last invoice. The total seems higher than usual this month.
            Bonjour, je voudrais parler avec un conseiller. Guten Tag, ich habe eine Frage zu meiner Rechnung.
            Hola, quiero cambiar mi contraseña. Grazie mille, arrivederci. Dziękuję bardzo. Спасибо, до свидания.
            """;

    private TinyTiktoken() {
    }

    private static List<byte[]> cached;

    /** The base tokens: byte strings in rank order (learned once per JVM). */
    static synchronized List<byte[]> tokens() {
        if (cached == null) {
            cached = List.copyOf(learn());
        }
        return cached;
    }

    private static List<byte[]> learn() {
        List<byte[]> vocab = new ArrayList<>();
        Map<String, Integer> rank = new HashMap<>();
        for (int b : byteOrder()) {
            add(vocab, rank, new byte[] {(byte) b});
        }
        // the corpus as pieces (whisper's pre-tokenizer), each a list of token ids, with its count
        Map<String, Integer> pieceCounts = new LinkedHashMap<>();
        Matcher m = PIECES.matcher(CORPUS.replace('\n', ' ').trim());
        while (m.find()) {
            pieceCounts.merge(m.group(), 1, Integer::sum);
        }
        List<int[]> pieces = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        for (Map.Entry<String, Integer> e : pieceCounts.entrySet()) {
            byte[] bytes = e.getKey().getBytes(StandardCharsets.UTF_8);
            int[] ids = new int[bytes.length];
            for (int i = 0; i < bytes.length; i++) {
                ids[i] = rank.get(key(new byte[] {bytes[i]}));
            }
            pieces.add(ids);
            counts.add(e.getValue());
        }
        for (int merge = 0; merge < MERGES; merge++) {
            // the most frequent adjacent pair; ties: lower first rank, then lower second rank
            Map<Long, Integer> pairCounts = new HashMap<>();
            for (int p = 0; p < pieces.size(); p++) {
                int[] ids = pieces.get(p);
                for (int i = 0; i + 1 < ids.length; i++) {
                    pairCounts.merge(((long) ids[i] << 32) | ids[i + 1], counts.get(p), Integer::sum);
                }
            }
            long best = -1;
            int bestCount = 1;
            for (Map.Entry<Long, Integer> e : pairCounts.entrySet()) {
                if (e.getValue() > bestCount || (e.getValue() == bestCount && best >= 0 && e.getKey() < best)) {
                    best = e.getKey();
                    bestCount = e.getValue();
                }
            }
            if (best < 0) {
                break;
            }
            int a = (int) (best >>> 32);
            int b = (int) best;
            byte[] joined = concat(vocab.get(a), vocab.get(b));
            Integer existing = rank.get(key(joined));
            int id = existing != null ? existing : add(vocab, rank, joined);
            for (int p = 0; p < pieces.size(); p++) {
                pieces.set(p, replacePair(pieces.get(p), a, b, id));
            }
        }
        return vocab;
    }

    /** n_vocab of the tiny decoder: the base tokens plus whisper's specials for all 100 languages. */
    static int nVocab() {
        return tokens().size() + WhisperTokenizer.LANGUAGES.size() + WhisperTokenizer.FIXED_SPECIALS;
    }

    /** The tiktoken file's text. */
    static String fileText() {
        return WhisperTokenizer.tiktokenText(tokens());
    }

    /** GPT-2's byte order: '!'..'~', 0xA1..0xAC, 0xAE..0xFF, then the remaining bytes ascending. */
    static int[] byteOrder() {
        int[] order = new int[256];
        boolean[] printable = new boolean[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            printable[b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            if (printable[b]) {
                order[n++] = b;
            }
        }
        for (int b = 0; b < 256; b++) {
            if (!printable[b]) {
                order[n++] = b;
            }
        }
        return order;
    }

    private static int add(List<byte[]> vocab, Map<String, Integer> rank, byte[] bytes) {
        rank.put(key(bytes), vocab.size());
        vocab.add(bytes);
        return vocab.size() - 1;
    }

    private static int[] replacePair(int[] ids, int a, int b, int merged) {
        int[] out = new int[ids.length];
        int n = 0;
        for (int i = 0; i < ids.length; i++) {
            if (i + 1 < ids.length && ids[i] == a && ids[i + 1] == b) {
                out[n++] = merged;
                i++;
            } else {
                out[n++] = ids[i];
            }
        }
        return n == ids.length ? ids : Arrays.copyOf(out, n);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static String key(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }
}
