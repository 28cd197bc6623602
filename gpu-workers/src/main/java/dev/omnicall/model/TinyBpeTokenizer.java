package dev.omnicall.model;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.List;

/**
 * A tiny byte-level BPE {@code tokenizer.json} (GPT-2's byte alphabet as ids 0-255, no merges) with a family's
 * special tokens after them, for the tiny checkpoints of both families.
 */
public final class TinyBpeTokenizer {
    private TinyBpeTokenizer() {
    }

    /**
     * The same byte-level BPE with {@code specials} at 256.. and, when {@code bosToken} is not null, a
     * post-processor that prepends it (Llama-3's has one; Qwen2.5's has none).
     */
    public static String json(int vocabSize, List<String> specials, String bosToken) {
        if (vocabSize < 256 + specials.size()) {
            throw new IllegalArgumentException("vocab_size " + vocabSize + " too small for the tiny tokenizer");
        }
        JsonObject vocab = new JsonObject();
        int[] byteToChar = byteLevelAlphabet();
        for (int b = 0; b < 256; b++) {
            vocab.addProperty(new String(Character.toChars(byteToChar[b])), b);
        }
        JsonArray added = new JsonArray();
        for (int i = 0; i < specials.size(); i++) {
            JsonObject t = new JsonObject();
            t.addProperty("id", 256 + i);
            t.addProperty("content", specials.get(i));
            t.addProperty("single_word", false);
            t.addProperty("lstrip", false);
            t.addProperty("rstrip", false);
            t.addProperty("normalized", false);
            t.addProperty("special", true);
            added.add(t);
        }
        JsonObject byteLevel = new JsonObject();
        byteLevel.addProperty("type", "ByteLevel");
        byteLevel.addProperty("add_prefix_space", false);
        byteLevel.addProperty("trim_offsets", true);
        byteLevel.addProperty("use_regex", true);
        JsonObject model = new JsonObject();
        model.addProperty("type", "BPE");
        model.add("dropout", null);
        model.add("unk_token", null);
        model.add("continuing_subword_prefix", null);
        model.add("end_of_word_suffix", null);
        model.addProperty("fuse_unk", false);
        model.addProperty("byte_fallback", false);
        model.add("vocab", vocab);
        model.add("merges", new JsonArray());
        String bos = bosToken == null ? specials.get(0) : bosToken; // the post-processor is dropped when null
        JsonObject bosPiece = new JsonObject();
        JsonObject special = new JsonObject();
        special.addProperty("id", bos);
        special.addProperty("type_id", 0);
        bosPiece.add("SpecialToken", special);
        JsonObject seqPiece = new JsonObject();
        JsonObject seq = new JsonObject();
        seq.addProperty("id", "A");
        seq.addProperty("type_id", 0);
        seqPiece.add("Sequence", seq);
        JsonArray single = new JsonArray();
        single.add(bosPiece);
        single.add(seqPiece);
        JsonObject bosEntry = new JsonObject();
        bosEntry.addProperty("id", bos);
        JsonArray bosIds = new JsonArray();
        bosIds.add(256 + specials.indexOf(bos));
        bosEntry.add("ids", bosIds);
        JsonArray bosTokens = new JsonArray();
        bosTokens.add(bos);
        bosEntry.add("tokens", bosTokens);
        JsonObject specialTokens = new JsonObject();
        specialTokens.add(bos, bosEntry);
        JsonObject post = new JsonObject();
        post.addProperty("type", "TemplateProcessing");
        post.add("single", single);
        JsonArray pair = new JsonArray();
        pair.add(bosPiece);
        pair.add(seqPiece);
        post.add("pair", pair);
        post.add("special_tokens", specialTokens);
        JsonObject root = new JsonObject();
        root.addProperty("version", "1.0");
        root.add("truncation", null);
        root.add("padding", null);
        root.add("added_tokens", added);
        root.add("normalizer", null);
        root.add("pre_tokenizer", byteLevel);
        root.add("post_processor", bosToken == null ? null : post);
        root.add("decoder", byteLevel);
        root.add("model", model);
        return new com.google.gson.GsonBuilder().serializeNulls().disableHtmlEscaping().create().toJson(root);
    }

    /** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256+n. */
    private static int[] byteLevelAlphabet() {
        int[] map = new int[256];
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            printable[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            printable[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            printable[b] = true;
        }
        int n = 0;
        for (int b = 0; b < 256; b++) {
            map[b] = printable[b] ? b : 256 + n++;
        }
        return map;
    }
}
