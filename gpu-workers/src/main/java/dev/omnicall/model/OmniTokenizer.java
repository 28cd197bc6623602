package dev.omnicall.model;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The checkpoint's {@code tokenizer.json} through DJL's Hugging Face tokenizers (native library bundled
 * in the jar, nothing downloaded). Encoding never adds special tokens of its own: the Llama-3 chat
 * template writes {@code <|begin_of_text|>} itself, and a second BOS would shift the prompt.
 */
public final class OmniTokenizer implements AutoCloseable {
    public static final String FILE_NAME = "tokenizer.json";

    private final HuggingFaceTokenizer tokenizer;

    private OmniTokenizer(HuggingFaceTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    public static OmniTokenizer load(Path checkpointDir) {
        Path file = checkpointDir.resolve(FILE_NAME);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("no " + FILE_NAME + " in " + checkpointDir);
        }
        try {
            return new OmniTokenizer(HuggingFaceTokenizer.newInstance(file,
                    Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false")));
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("cannot load " + file + ": " + e.getMessage(), e);
        }
    }

    /** Text (special-token strings inside it are recognised) -> ids, nothing added. */
    public long[] encode(String text) {
        return tokenizer.encode(text, false, false).getIds();
    }

    /** The id of one special token, e.g. {@code <|eot_id|>}; fails if it is not a single token. */
    public long specialId(String token) {
        long[] ids = encode(token);
        if (ids.length != 1) {
            throw new IllegalArgumentException("tokenizer has no single token for " + token + " (got "
                    + ids.length + " ids)");
        }
        return ids[0];
    }

    public String decode(long[] ids) {
        return tokenizer.decode(ids, true);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
