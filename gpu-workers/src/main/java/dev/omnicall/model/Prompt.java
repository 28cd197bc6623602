package dev.omnicall.model;

import ai.djl.ndarray.NDArray;

/**
 * The prompt rows of one turn and what each position holds (token id, or negative for speech). Both model families
 * build their prompts with {@link #splice} and match a call's cached positions against {@link #keys} with
 * {@link #commonPrefix}.
 *
 * @param embeddings [positions, llm dim], the rows the LLM prefills
 * @param keys       [positions]: the token id of a text position, a negative key for a speech row
 */
public record Prompt(NDArray embeddings, long[] keys) {

    /** A chat template's text before the speech rows and after them (each family's template builds one). */
    public record Parts(String beforeSpeech, String afterSpeech) {
    }

    /**
     * A chat prompt's text before and after {@code <speech>}, tokenized and embedded by {@code llm}, with the speech
     * rows between them; the speech positions get the keys {@code speechKey, speechKey - 1, ...} (negative, so
     * that cached positions can be matched between turns).
     */
    public static Prompt splice(LlamaModel llm, OmniTokenizer tokenizer, Parts parts, NDArray speech,
                                long speechKey) {
        long[] before = tokenizer.encode(parts.beforeSpeech());
        long[] after = tokenizer.encode(parts.afterSpeech());
        int rows = (int) speech.getShape().get(0);
        long[] keys = new long[before.length + rows + after.length];
        System.arraycopy(before, 0, keys, 0, before.length);
        for (int i = 0; i < rows; i++) {
            keys[before.length + i] = speechKey - i;
        }
        System.arraycopy(after, 0, keys, before.length + rows, after.length);
        NDArray embeddings = Ops.scoped(() -> llm.embed(before)
                .concat(speech.toType(llm.dataType(), false), 0).concat(llm.embed(after), 0));
        return new Prompt(embeddings, keys);
    }

    /** How many leading keys two position-key sequences share (a call cache's reusable prefix). */
    public static int commonPrefix(long[] a, long[] b) {
        int n = Math.min(a.length, b.length);
        int i = 0;
        while (i < n && a[i] == b[i]) {
            i++;
        }
        return i;
    }
}
