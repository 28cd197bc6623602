package dev.omnicall.model.omni2;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The TTS vocabulary as the checkpoint's {@value #DIR_NAME}/ lays it out, read rather than assumed. The reference
 * ({@code LLMSpeechGenerator}, ictnlp/LLaMA-Omni2 c8afa90) loads {@code <model>/tts_tokenizer} with
 * {@code AutoTokenizer} and takes from it: {@code <sep>}'s id ({@code convert_tokens_to_ids("<sep>")}), the end
 * ({@code tokenizer.eos_token_id}, handed to {@code generate} as its eos), and the units, which leave the TTS LM as
 * text ({@code decode(ids, skip_special_tokens=True)}) whose digit runs are parsed as unit numbers. So here:
 * <ul>
 * <li>the added tokens from {@code tokenizer.json} ({@code added_tokens}), {@code tokenizer_config.json}
 * ({@code added_tokens_decoder}) and {@code added_tokens.json}, whichever the directory holds;</li>
 * <li>a unit token is a non-special added token whose text holds one digit run, its unit that number (a special
 * token is dropped by the reference's decode; a text with two runs would read as two units and is refused);</li>
 * <li>the end is {@code tokenizer_config.json}'s {@code eos_token}, or config.json's
 * {@code speech_generator.eos_token_id} when the directory does not name one.</li>
 * </ul>
 * This runtime takes units as consecutive ids (unit u at id base + u, {@link TtsVocabulary}); a layout that is not
 * is refused in words. The exact strings of the published unit tokens are unverified (CHECKPOINT-OMNI2.md): any
 * naming with one number per token reads the same. Without the directory the published rule
 * ({@link Omni2Config#ttsVocabulary}) applies and a line says so.
 */
public final class TtsTokenizerLayout {
    private static final Logger LOG = LoggerFactory.getLogger(TtsTokenizerLayout.class);
    public static final String DIR_NAME = "tts_tokenizer";
    public static final String SEP_TOKEN = "<sep>";
    public static final String TOKENIZER_JSON = "tokenizer.json";
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    public static final String ADDED_TOKENS = "added_tokens.json";
    private static final Pattern DIGITS = Pattern.compile("\\d+");

    /** One added token: its id, its text, and whether decoding with skip_special_tokens drops it. */
    public record AddedToken(int id, String content, boolean special) {
    }

    private TtsTokenizerLayout() {
    }

    /**
     * The TTS vocabulary of the checkpoint in {@code checkpointDir}: read from its {@value #DIR_NAME}/ when present
     * (and checked against config.json's {@code unit_vocab_size} and the TTS {@code vocab_size}), else the
     * published rule.
     */
    public static TtsVocabulary vocabulary(Path checkpointDir, Omni2Config config) {
        Path dir = checkpointDir.resolve(DIR_NAME);
        if (!Files.isDirectory(dir)) {
            TtsVocabulary rule = config.ttsVocabulary();
            LOG.info("no {} in {}: TTS ids after the published rule (units {}..{}, <sep> {}, end {})", DIR_NAME,
                    checkpointDir, rule.unitBase(), rule.unitBase() + rule.unitCount() - 1, rule.sepId(),
                    rule.endId());
            return rule;
        }
        List<Integer> eos = config.speechGenerator().eosTokenId();
        TtsVocabulary read = read(dir, config.speechGenerator().vocabSize(), config.unitVocabSize(),
                eos.isEmpty() ? null : eos.get(0));
        if (!read.equals(safeRule(config))) {
            LOG.info("{} lays the TTS ids out as {} (not the published rule's {})", dir, read, safeRule(config));
        }
        return read;
    }

    private static TtsVocabulary safeRule(Omni2Config config) {
        try {
            return config.ttsVocabulary();
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /**
     * Reads a tts_tokenizer directory. {@code configEos}: config.json's {@code speech_generator.eos_token_id}, the
     * end when the directory names no {@code eos_token} (null: none). One {@link IllegalArgumentException} naming
     * the directory and what is wrong otherwise.
     */
    public static TtsVocabulary read(Path dir, int vocabSize, int unitCount, Integer configEos) {
        try {
            return readLayout(dir, vocabSize, unitCount, configEos);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(dir + ": " + e.getMessage(), e);
        }
    }

    private static TtsVocabulary readLayout(Path dir, int vocabSize, int unitCount, Integer configEos) {
        JsonObject tokenizerJson = readJson(dir.resolve(TOKENIZER_JSON));
        JsonObject tokenizerConfig = readJson(dir.resolve(TOKENIZER_CONFIG));
        JsonObject addedTokensJson = readJson(dir.resolve(ADDED_TOKENS));
        if (tokenizerJson == null && tokenizerConfig == null && addedTokensJson == null) {
            throw new IllegalArgumentException("holds none of " + TOKENIZER_JSON + ", " + TOKENIZER_CONFIG + ", "
                    + ADDED_TOKENS + " (the TTS tokenizer's added tokens: <sep> and the units)");
        }
        Map<Integer, AddedToken> added = addedTokens(tokenizerJson, tokenizerConfig, addedTokensJson);
        // <sep>
        Integer sep = idOf(SEP_TOKEN, added, tokenizerJson);
        if (sep == null) {
            throw new IllegalArgumentException("has no " + SEP_TOKEN + " token (the reference appends its"
                    + " embedding when the text ends)");
        }
        // the end: the tokenizer's eos_token, else the config's
        Integer end;
        String eosToken = eosToken(tokenizerConfig);
        if (eosToken != null) {
            end = idOf(eosToken, added, tokenizerJson);
            if (end == null) {
                throw new IllegalArgumentException(TOKENIZER_CONFIG + " names eos_token '" + eosToken
                        + "' but no token has that text");
            }
        } else if (configEos != null) {
            end = configEos;
        } else {
            throw new IllegalArgumentException("names no eos_token and config.json's speech_generator has no"
                    + " eos_token_id: the TTS LM's end token is unknown");
        }
        // the units: non-special added tokens holding one number, as the reference's decode + regex reads them
        List<AddedToken> units = new ArrayList<>();
        for (AddedToken t : added.values()) {
            if (t.special()) {
                continue;
            }
            Matcher m = DIGITS.matcher(t.content());
            if (!m.find()) {
                continue;
            }
            String first = m.group();
            if (m.find()) {
                throw new IllegalArgumentException("token '" + t.content() + "' (id " + t.id() + ") holds two"
                        + " numbers; the reference's unit parser would read it as two units");
            }
            units.add(new AddedToken(t.id(), first, false));
        }
        if (units.isEmpty()) {
            throw new IllegalArgumentException("has no unit tokens (non-special added tokens whose text holds a"
                    + " number)");
        }
        units.sort(Comparator.comparingInt(AddedToken::id));
        if (units.size() != unitCount) {
            throw new IllegalArgumentException(units.size() + " unit tokens (ids " + units.get(0).id() + ".."
                    + units.get(units.size() - 1).id() + ") but config.json's unit_vocab_size is " + unitCount);
        }
        int base = units.get(0).id();
        for (AddedToken u : units) {
            long unit = parseUnit(u.content());
            if (unit != u.id() - (long) base) {
                throw new IllegalArgumentException("token id " + u.id() + " reads as unit " + unit + " but this"
                        + " runtime takes units as consecutive ids from " + base + " (unit " + (u.id() - base)
                        + " there)");
            }
        }
        TtsVocabulary vocabulary;
        try {
            vocabulary = new TtsVocabulary(base, unitCount, sep, end);
            vocabulary.checkFits(vocabSize);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage() + " (speech_generator.vocab_size " + vocabSize + ")",
                    e);
        }
        return vocabulary;
    }

    private static long parseUnit(String digits) {
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            return -1; // too long to be a unit
        }
    }

    /** The added tokens by id from every file that lists them; tokenizer.json's entries win. */
    static Map<Integer, AddedToken> addedTokens(JsonObject tokenizerJson, JsonObject tokenizerConfig,
            JsonObject addedTokensJson) {
        Map<Integer, AddedToken> byId = new TreeMap<>();
        if (addedTokensJson != null) {
            for (Map.Entry<String, JsonElement> e : addedTokensJson.entrySet()) {
                int id = e.getValue().getAsInt();
                byId.put(id, new AddedToken(id, e.getKey(), false));
            }
        }
        if (tokenizerConfig != null && tokenizerConfig.has("added_tokens_decoder")) {
            for (Map.Entry<String, JsonElement> e : tokenizerConfig.getAsJsonObject("added_tokens_decoder")
                    .entrySet()) {
                JsonObject t = e.getValue().getAsJsonObject();
                int id = Integer.parseInt(e.getKey());
                byId.put(id, new AddedToken(id, t.get("content").getAsString(), flag(t, "special")));
            }
        }
        if (tokenizerJson != null && tokenizerJson.has("added_tokens")) {
            for (JsonElement e : tokenizerJson.getAsJsonArray("added_tokens")) {
                JsonObject t = e.getAsJsonObject();
                int id = t.get("id").getAsInt();
                byId.put(id, new AddedToken(id, t.get("content").getAsString(), flag(t, "special")));
            }
        }
        return byId;
    }

    private static boolean flag(JsonObject o, String name) {
        JsonElement v = o.get(name);
        return v != null && !v.isJsonNull() && v.getAsBoolean();
    }

    /** A token's id: among the added tokens, else in tokenizer.json's model vocabulary; null when neither has it. */
    private static Integer idOf(String token, Map<Integer, AddedToken> added, JsonObject tokenizerJson) {
        for (AddedToken t : added.values()) {
            if (t.content().equals(token)) {
                return t.id();
            }
        }
        if (tokenizerJson != null && tokenizerJson.has("model")) {
            JsonObject model = tokenizerJson.getAsJsonObject("model");
            JsonElement vocab = model.get("vocab");
            if (vocab != null && vocab.isJsonObject() && vocab.getAsJsonObject().has(token)) {
                return vocab.getAsJsonObject().get(token).getAsInt();
            }
        }
        return null;
    }

    /** tokenizer_config.json's eos_token: a string, or an AddedToken object with its content; null when absent. */
    private static String eosToken(JsonObject tokenizerConfig) {
        if (tokenizerConfig == null) {
            return null;
        }
        JsonElement eos = tokenizerConfig.get("eos_token");
        if (eos == null || eos.isJsonNull()) {
            return null;
        }
        return eos.isJsonObject() ? eos.getAsJsonObject().get("content").getAsString() : eos.getAsString();
    }

    private static JsonObject readJson(Path file) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("cannot read " + file.getFileName() + ": " + e.getMessage(), e);
        }
    }
}
