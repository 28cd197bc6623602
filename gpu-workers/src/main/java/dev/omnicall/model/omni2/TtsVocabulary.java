package dev.omnicall.model.omni2;

/**
 * Where the speech units, {@code <sep>} and the end token sit in the TTS LM's vocabulary. Published
 * (CHECKPOINT-OMNI2.md "Speech tokens"; third-party, consistent with vocab 158227): Qwen2.5's text ids 0..151664,
 * {@code <sep>} 151665, unit u = 151666 + u for u in 0..6560, end = {@code <|endoftext|>} 151643 (the TTS
 * config's eos). Tiny test checkpoints use the same layout at small sizes ({@link #fromLayout}).
 *
 * @param unitBase the id of unit 0
 * @param unitCount how many units (the checkpoint's {@code unit_vocab_size})
 * @param sepId the {@code <sep>} id appended when the text ends
 * @param endId the id that ends the TTS LM's writing
 */
public record TtsVocabulary(int unitBase, int unitCount, int sepId, int endId) {

    public TtsVocabulary {
        require(unitBase >= 0 && unitCount > 0, "unit ids need unitBase >= 0 and unitCount > 0, got " + unitBase
                + " and " + unitCount);
        require(!isUnitId(sepId, unitBase, unitCount), "<sep> id " + sepId + " lies among the unit ids " + unitBase
                + ".." + (unitBase + unitCount - 1));
        require(!isUnitId(endId, unitBase, unitCount), "end id " + endId + " lies among the unit ids " + unitBase
                + ".." + (unitBase + unitCount - 1));
        require(sepId >= 0 && endId >= 0 && sepId != endId, "<sep> " + sepId + " and end " + endId
                + " must be distinct non-negative ids");
    }

    /** LLaMA-Omni2's layout: 6561 units from 151666, {@code <sep>} 151665, end 151643. */
    public static TtsVocabulary published() {
        return new TtsVocabulary(151666, 6561, 151665, 151643);
    }

    /**
     * The published rule for any vocabulary size: the units are the last {@code unitCount} ids,
     * {@code <sep>} the id just before them, end the config's eos.
     */
    public static TtsVocabulary fromLayout(int vocabSize, int unitCount, int endId) {
        int base = vocabSize - unitCount;
        return new TtsVocabulary(base, unitCount, base - 1, endId);
    }

    /** Fails unless every id fits a vocabulary of {@code vocabSize} rows. */
    public void checkFits(int vocabSize) {
        require(unitBase + (long) unitCount <= vocabSize && sepId < vocabSize && endId < vocabSize,
                "units " + unitBase + ".." + (unitBase + unitCount - 1) + ", <sep> " + sepId + " and end " + endId
                        + " must all be below the TTS vocab_size " + vocabSize);
    }

    public boolean isUnit(long id) {
        return isUnitId(id, unitBase, unitCount);
    }

    private static boolean isUnitId(long id, int base, int count) {
        return id >= base && id < (long) base + count;
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("TTS vocabulary: " + message);
        }
    }
}
