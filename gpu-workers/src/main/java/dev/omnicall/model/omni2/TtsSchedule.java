package dev.omnicall.model.omni2;

/**
 * LLaMA-Omni2's read/write schedule (CHECKPOINT-OMNI2.md "Streaming schedule"; {@code stream_params} "(R,W)",
 * published (3,10)): after every {@code readTokens} text tokens the new (hidden state, token) pairs are fused
 * and appended and the TTS LM writes up to {@code writeUnits} tokens (fewer if it writes its end token); when
 * the text ends (the LLM's end token is the last pair) the 1..R remaining pairs and {@code <sep>} are appended
 * and the TTS LM writes until its end token or {@code finalCap} tokens (the reference: 1024).
 */
public record TtsSchedule(int readTokens, int writeUnits, int finalCap) {

    /** The published schedule: R = 3, W = 10, 1024 tokens after the text. */
    public static TtsSchedule published() {
        return new TtsSchedule(3, 10, 1024);
    }

    public TtsSchedule {
        if (readTokens < 1 || writeUnits < 1 || finalCap < 1) {
            throw new IllegalArgumentException("TTS schedule needs R >= 1, W >= 1 and a final cap >= 1, got R "
                    + readTokens + ", W " + writeUnits + ", cap " + finalCap);
        }
    }

    /** "(3,10)" as config.json's {@code stream_params} writes it; absent (null) means the code default (1,1). */
    public static TtsSchedule parseStreamParams(String streamParams, int finalCap) {
        if (streamParams == null) {
            return new TtsSchedule(1, 1, finalCap);
        }
        String s = streamParams.trim();
        if (s.startsWith("(") && s.endsWith(")")) {
            s = s.substring(1, s.length() - 1);
        }
        String[] parts = s.split(",");
        try {
            if (parts.length == 2) {
                return new TtsSchedule(Integer.parseInt(parts[0].trim()), Integer.parseInt(parts[1].trim()), finalCap);
            }
        } catch (NumberFormatException e) {
            // fall through to the message below
        }
        throw new IllegalArgumentException("stream_params '" + streamParams + "' is not of the form (R,W), e.g. (3,10)");
    }

    /**
     * What happens when text token number {@code textTokens} (1-based) arrives, {@code last} when it ends the
     * text; {@code pairsSinceWrite} counts the pairs not yet fused, this one included.
     */
    public Write at(int textTokens, int pairsSinceWrite, boolean last) {
        if (last) {
            return new Write(pairsSinceWrite, true, finalCap);
        }
        if (textTokens % readTokens == 0) {
            return new Write(pairsSinceWrite, false, writeUnits);
        }
        return null;
    }

    /** One write: fuse {@code pairs} pairs, append {@code <sep>} if {@code sep}, write up to {@code maxTokens}. */
    public record Write(int pairs, boolean sep, int maxTokens) {
    }
}
