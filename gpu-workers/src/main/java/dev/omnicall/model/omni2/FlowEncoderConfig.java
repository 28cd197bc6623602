package dev.omnicall.model.omni2;

/**
 * The token side of CosyVoice2's causal flow ({@code CausalMaskedDiffWithXvec}: input_embedding, the
 * UpsampleConformerEncoder, encoder_proj). {@code flow.pt} carries no configuration; {@link #cosyVoice2()}
 * holds the published values (CHECKPOINT-OMNI2.md "Flow matching"), a test uses smaller widths.
 *
 * @param vocabSize speech tokens (6561)
 * @param dim the conformer width (512)
 * @param heads attention heads (8 × 64)
 * @param ffnDim the feed-forward width (2048)
 * @param blocks conformer layers before the up layer (6)
 * @param upBlocks conformer layers after it (4)
 * @param lookahead the pre-lookahead layer's right context in tokens (3)
 * @param upStride mel frames per token (2)
 * @param melBins encoder_proj's output (80)
 * @param chunkTokens attention chunk before the up layer, in tokens (LLaMA-Omni2: 50); after it the chunk
 *     is chunkTokens × upStride frames; 0 = full attention
 */
public record FlowEncoderConfig(int vocabSize, int dim, int heads, int ffnDim, int blocks, int upBlocks,
        int lookahead, int upStride, int melBins, int chunkTokens) {

    public FlowEncoderConfig {
        require(vocabSize > 0 && dim > 0 && heads > 0 && ffnDim > 0 && melBins > 0, "sizes must be positive");
        require(dim % heads == 0, "dim " + dim + " is not a multiple of heads " + heads);
        require(dim % 2 == 0, "dim " + dim + " must be even (sinusoid pairs)");
        require(blocks >= 0 && upBlocks >= 0 && lookahead >= 0 && upStride >= 1 && chunkTokens >= 0,
                "blocks, upBlocks, lookahead, chunkTokens must be >= 0 and upStride >= 1");
    }

    public static FlowEncoderConfig cosyVoice2() {
        return new FlowEncoderConfig(6561, 512, 8, 2048, 6, 4, 3, 2, 80, 50);
    }

    public int headDim() {
        return dim / heads;
    }

    /** The encoder side's tensors of {@code flow.pt} (names as published, no prefix) with their shapes. */
    public java.util.Map<String, long[]> tensorShapes() {
        java.util.Map<String, long[]> s = new java.util.LinkedHashMap<>();
        s.put("input_embedding.weight", new long[] {vocabSize, dim});
        embed(s, "encoder.embed");
        s.put("encoder.pre_lookahead_layer.conv1.weight", new long[] {dim, dim, lookahead + 1});
        s.put("encoder.pre_lookahead_layer.conv1.bias", new long[] {dim});
        s.put("encoder.pre_lookahead_layer.conv2.weight", new long[] {dim, dim, 3});
        s.put("encoder.pre_lookahead_layer.conv2.bias", new long[] {dim});
        for (int i = 0; i < blocks; i++) {
            layer(s, "encoder.encoders." + i);
        }
        s.put("encoder.up_layer.conv.weight", new long[] {dim, dim, 2L * upStride + 1});
        s.put("encoder.up_layer.conv.bias", new long[] {dim});
        embed(s, "encoder.up_embed");
        for (int i = 0; i < upBlocks; i++) {
            layer(s, "encoder.up_encoders." + i);
        }
        s.put("encoder.after_norm.weight", new long[] {dim});
        s.put("encoder.after_norm.bias", new long[] {dim});
        s.put("encoder_proj.weight", new long[] {melBins, dim});
        s.put("encoder_proj.bias", new long[] {melBins});
        return s;
    }

    private void embed(java.util.Map<String, long[]> s, String p) {
        s.put(p + ".out.0.weight", new long[] {dim, dim});
        s.put(p + ".out.0.bias", new long[] {dim});
        s.put(p + ".out.1.weight", new long[] {dim});
        s.put(p + ".out.1.bias", new long[] {dim});
    }

    private void layer(java.util.Map<String, long[]> s, String p) {
        for (String l : new String[] {"linear_q", "linear_k", "linear_v", "linear_out"}) {
            s.put(p + ".self_attn." + l + ".weight", new long[] {dim, dim});
            s.put(p + ".self_attn." + l + ".bias", new long[] {dim});
        }
        s.put(p + ".self_attn.linear_pos.weight", new long[] {dim, dim});
        s.put(p + ".self_attn.pos_bias_u", new long[] {heads, headDim()});
        s.put(p + ".self_attn.pos_bias_v", new long[] {heads, headDim()});
        s.put(p + ".feed_forward.w_1.weight", new long[] {ffnDim, dim});
        s.put(p + ".feed_forward.w_1.bias", new long[] {ffnDim});
        s.put(p + ".feed_forward.w_2.weight", new long[] {dim, ffnDim});
        s.put(p + ".feed_forward.w_2.bias", new long[] {dim});
        s.put(p + ".norm_mha.weight", new long[] {dim});
        s.put(p + ".norm_mha.bias", new long[] {dim});
        s.put(p + ".norm_ff.weight", new long[] {dim});
        s.put(p + ".norm_ff.bias", new long[] {dim});
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("flow encoder config: " + message);
        }
    }
}
