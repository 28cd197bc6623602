package dev.omnicall.model;

import dev.omnicall.model.io.CheckpointException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Whisper's multilingual tokenizer from a tiktoken vocabulary file ({@code multilingual.tiktoken}, shipped
 * inside the openai-whisper package as {@code whisper/assets/multilingual.tiktoken}): one line per base
 * token, {@code base64(bytes) rank}, ranks 0..base-1. The special tokens follow the base vocabulary in
 * whisper's order: end-of-text, start-of-transcript, one token per language (whisper's LANGUAGES order,
 * the first L of them), translate, transcribe, start-of-lm, start-of-prev, no-speech, no-timestamps, then
 * 1501 timestamps 0.00..30.00. So n_vocab = base + L + 1509, and L is derived from the model's n_vocab
 * (large-v3: 51866 = 50257 + 100 + 1509).
 *
 * <p>Decoding joins the bytes of base tokens, drops every special token and reads the bytes as UTF-8
 * (invalid sequences become U+FFFD, as tiktoken's decode does). Encoding is byte-level BPE over whisper's
 * pre-tokenizer pattern; the transcriber needs it only for a handful of symbols (the suppression lists).
 */
public final class WhisperTokenizer {
    /** whisper/tokenizer.py LANGUAGES, in its order (large-v3 uses all 100, yue last). */
    public static final List<String> LANGUAGES = List.of("en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr",
            "pl", "ca", "nl", "ar", "sv", "it", "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu",
            "ta", "no", "th", "ur", "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az",
            "sl", "kn", "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si",
            "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps",
            "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su",
            "yue");
    /** Timestamp tokens <|0.00|> .. <|30.00|>. */
    public static final int TIMESTAMPS = 1501;
    /** Specials that are not languages: endoftext, startoftranscript, translate, transcribe, startoflm,
     * startofprev, nospeech, notimestamps, and the timestamps. */
    public static final int FIXED_SPECIALS = 8 + TIMESTAMPS;
    /** The usual name of the vocabulary file. */
    public static final String FILE_NAME = "multilingual.tiktoken";
    /** whisper's pre-tokenizer (tiktoken pat_str of its encodings), with Unicode classes as in Rust's regex. */
    private static final Pattern PIECES = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    private final byte[][] tokenBytes; // [base][]
    private final Map<String, Integer> ranks; // bytes as ISO-8859-1 string -> rank
    private final int nVocab;
    private final int languages;
    private final String source;

    private WhisperTokenizer(List<byte[]> tokens, int nVocab, String source) {
        this.source = source;
        this.tokenBytes = tokens.toArray(new byte[0][]);
        this.ranks = new HashMap<>(tokens.size() * 2);
        for (int i = 0; i < tokenBytes.length; i++) {
            ranks.put(key(tokenBytes[i]), i);
        }
        int base = tokenBytes.length;
        this.nVocab = nVocab;
        this.languages = nVocab - base - FIXED_SPECIALS;
        if (languages < 1 || languages > LANGUAGES.size()) {
            throw new CheckpointException("vocabulary " + source + " has " + base + " base tokens but the decoder's"
                    + " n_vocab is " + nVocab + ": whisper's specials need n_vocab = " + base + " + languages + "
                    + FIXED_SPECIALS + " with 1.." + LANGUAGES.size() + " languages, i.e. between "
                    + (base + FIXED_SPECIALS + 1) + " and " + (base + FIXED_SPECIALS + LANGUAGES.size())
                    + " (large-v3: 50257 base tokens, n_vocab 51866)");
        }
    }

    /** Reads a tiktoken file; nVocab is the decoder's (token_embedding rows, or dims n_vocab). */
    public static WhisperTokenizer load(Path file, int nVocab) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new CheckpointException("cannot read the Whisper vocabulary " + file + ": " + e.getMessage(), e);
        }
        List<byte[]> tokens = new ArrayList<>(lines.size());
        Map<String, Integer> seen = new HashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).trim();
            if (line.isEmpty()) {
                continue;
            }
            String[] parts = line.split(" ");
            byte[] bytes;
            int rank;
            try {
                if (parts.length != 2) {
                    throw new IllegalArgumentException("expected 2 fields");
                }
                bytes = Base64.getDecoder().decode(parts[0]);
                rank = Integer.parseInt(parts[1]);
            } catch (IllegalArgumentException e) {
                throw new CheckpointException(file + " line " + (i + 1) + " is not 'base64 rank' (" + e.getMessage()
                        + "): " + (line.length() > 60 ? line.substring(0, 60) + "..." : line));
            }
            if (rank != tokens.size()) {
                throw new CheckpointException(file + " line " + (i + 1) + " has rank " + rank + " but ranks must run "
                        + "0, 1, 2, ... in file order (expected " + tokens.size() + ")");
            }
            Integer twin = seen.put(key(bytes), rank);
            if (twin != null) {
                throw new CheckpointException(file + " line " + (i + 1) + ": rank " + rank
                        + " repeats the bytes of rank " + twin);
            }
            tokens.add(bytes);
        }
        return new WhisperTokenizer(tokens, nVocab, file.toString());
    }

    /** A vocabulary made in memory (tests, the benchmark): token i has the bytes tokens.get(i). */
    public static WhisperTokenizer of(List<byte[]> tokens, int nVocab, String name) {
        return new WhisperTokenizer(new ArrayList<>(tokens), nVocab, name);
    }

    /** Writes tokens in the tiktoken format (one {@code base64 rank} line each). */
    public static String tiktokenText(List<byte[]> tokens) {
        StringBuilder out = new StringBuilder(tokens.size() * 12);
        for (int i = 0; i < tokens.size(); i++) {
            out.append(Base64.getEncoder().encodeToString(tokens.get(i))).append(' ').append(i).append('\n');
        }
        return out.toString();
    }

    private static String key(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }

    // ---- the special tokens, in whisper's order after the base vocabulary

    public int nVocab() {
        return nVocab;
    }

    public int baseVocabSize() {
        return tokenBytes.length;
    }

    /** Languages this vocabulary has tokens for (whisper's first L). */
    public List<String> languages() {
        return LANGUAGES.subList(0, languages);
    }

    public int endOfText() {
        return tokenBytes.length;
    }

    public int startOfTranscript() {
        return endOfText() + 1;
    }

    public int languageToken(String code) {
        int i = languages().indexOf(code);
        if (i < 0) {
            throw new IllegalArgumentException("language '" + code + "' is not one of the " + languages
                    + " languages of this vocabulary (whisper codes: " + String.join(", ", languages()) + ")");
        }
        return startOfTranscript() + 1 + i;
    }

    public int firstLanguageToken() {
        return startOfTranscript() + 1;
    }

    /** The language code of a language token, if it is one. */
    public Optional<String> languageOf(long token) {
        long i = token - firstLanguageToken();
        return i >= 0 && i < languages ? Optional.of(LANGUAGES.get((int) i)) : Optional.empty();
    }

    public int translate() {
        return firstLanguageToken() + languages;
    }

    public int transcribe() {
        return translate() + 1;
    }

    public int startOfLm() {
        return translate() + 2;
    }

    public int startOfPrev() {
        return translate() + 3;
    }

    public int noSpeech() {
        return translate() + 4;
    }

    public int noTimestamps() {
        return translate() + 5;
    }

    public int timestampBegin() {
        return translate() + 6;
    }

    public boolean isSpecial(long token) {
        return token >= endOfText();
    }

    /** Readable form of one id: its text, or the special token's name. */
    public String tokenText(long token) {
        if (token < 0 || token >= nVocab) {
            throw new IllegalArgumentException("token " + token + " outside the vocabulary of " + nVocab);
        }
        if (!isSpecial(token)) {
            return new String(tokenBytes[(int) token], StandardCharsets.UTF_8);
        }
        if (token == endOfText()) {
            return "<|endoftext|>";
        }
        if (token == startOfTranscript()) {
            return "<|startoftranscript|>";
        }
        Optional<String> lang = languageOf(token);
        if (lang.isPresent()) {
            return "<|" + lang.get() + "|>";
        }
        int i = (int) (token - translate());
        if (i < 6) {
            return List.of("<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                    "<|notimestamps|>").get(i);
        }
        return String.format("<|%.2f|>", (token - timestampBegin()) * 0.02);
    }

    /** The bytes of the base tokens among ids, in order; special tokens are dropped. */
    public byte[] bytes(long[] ids, int count) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < count; i++) {
            long id = ids[i];
            if (id < 0 || id >= nVocab) {
                throw new IllegalArgumentException("token " + id + " outside the vocabulary of " + nVocab);
            }
            if (id < tokenBytes.length) {
                out.writeBytes(tokenBytes[(int) id]);
            }
        }
        return out.toByteArray();
    }

    /** ids -> text: base tokens' bytes as UTF-8 (invalid bytes become U+FFFD), special tokens dropped. */
    public String decode(long[] ids) {
        return new String(bytes(ids, ids.length), StandardCharsets.UTF_8);
    }

    /**
     * Like {@link #decode} but leaves out an incomplete UTF-8 sequence at the very end (its remaining bytes
     * may come with the next token), so a growing transcript never shows a transient U+FFFD.
     */
    public String decodeComplete(long[] ids, int count) {
        byte[] b = bytes(ids, count);
        return new String(b, 0, completeLength(b), StandardCharsets.UTF_8);
    }

    /** Length of b without a trailing, still incomplete UTF-8 sequence. */
    static int completeLength(byte[] b) {
        int n = b.length;
        // find the start of the last sequence: at most 3 continuation bytes back
        for (int back = 1; back <= Math.min(4, n); back++) {
            int c = b[n - back] & 0xFF;
            if ((c & 0xC0) == 0x80) {
                continue; // continuation byte
            }
            int need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            return need > back ? n - back : n;
        }
        return n;
    }

    /** Text -> base token ids: whisper's pre-tokenizer pattern, then byte-pair merges by rank per piece. */
    public long[] encode(String text) {
        List<Long> out = new ArrayList<>();
        Matcher m = PIECES.matcher(text);
        while (m.find()) {
            for (int id : bpe(m.group().getBytes(StandardCharsets.UTF_8))) {
                out.add((long) id);
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    /** One piece: a whole-piece token if there is one, else merge the lowest-ranked adjacent pair until none is left. */
    private List<Integer> bpe(byte[] piece) {
        Integer whole = ranks.get(key(piece));
        List<Integer> ids = new ArrayList<>();
        if (whole != null) {
            ids.add(whole);
            return ids;
        }
        List<String> parts = new ArrayList<>();
        for (byte b : piece) {
            parts.add(key(new byte[] {b}));
        }
        while (parts.size() > 1) {
            int best = -1;
            int bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < parts.size(); i++) {
                Integer r = ranks.get(parts.get(i) + parts.get(i + 1));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    best = i;
                }
            }
            if (best < 0) {
                break;
            }
            parts.set(best, parts.get(best) + parts.get(best + 1));
            parts.remove(best + 1);
        }
        for (String p : parts) {
            Integer r = ranks.get(p);
            if (r == null) {
                throw new IllegalArgumentException("vocabulary " + source + " has no token for byte(s) "
                        + java.util.Arrays.toString(p.getBytes(StandardCharsets.ISO_8859_1)));
            }
            ids.add(r);
        }
        return ids;
    }

    /**
     * whisper's {@code non_speech_tokens}: the single-token forms of symbols that mark speaker tags or
     * non-speech annotations (alone and after a space), the first token of the musical symbols U+2669..266F
     * however they split, and the leading " -" and " '" tokens. Suppressed by the {@code suppress_tokens "-1"}
     * default.
     */
    public int[] nonSpeechTokens() {
        List<String> symbols = new ArrayList<>();
        for (char c : "\"#()*+/:;<=>@[\\]^_`{|}~「」『』".toCharArray()) {
            symbols.add(String.valueOf(c));
        }
        symbols.addAll(List.of("<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", "(\"", "((", "))", "(((",
                ")))", "[[", "]]", "{{", "}}", "♪♪", "♪♪♪"));
        List<String> musical = List.of("♩", "♪", "♫", "♬", "♭", "♮", "♯");
        TreeSet<Integer> result = new TreeSet<>();
        result.add((int) encode(" -")[0]);
        result.add((int) encode(" '")[0]);
        for (String symbol : concat(symbols, musical)) {
            for (String form : List.of(symbol, " " + symbol)) {
                long[] ids = encode(form);
                if (ids.length == 1 || musical.contains(symbol)) {
                    result.add((int) ids[0]);
                }
            }
        }
        return result.stream().mapToInt(Integer::intValue).toArray();
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** Where the vocabulary came from (file path or name). */
    public String source() {
        return source;
    }
}
