package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.Ops;
import dev.omnicall.model.io.TensorSource;

/**
 * LLaMA-Omni2's gated fusion of an LLM state and the token it predicted ({@code LLMSpeechGenerator.fusion}):
 * r = input_proj(h) = L2(ReLU(L1(h))), e = the TTS LM's embedding of the token,
 * g = sigmoid(gate.0([r; e])), x = g·r + (1−g)·e. H is the LLM's width, D the TTS LM's.
 */
public final class GatedFusion {
    static final String PREFIX = "speech_generator.";

    final NDArray proj1; // [2H, H]   input_proj.0
    final NDArray proj1Bias; // [2H]
    final NDArray proj2; // [D, 2H]   input_proj.2
    final NDArray proj2Bias; // [D]
    final NDArray gate; // [D, 2D]    gate.0
    final NDArray gateBias; // [D]

    GatedFusion(TensorSource src, NDManager m, DataType type, int llmHidden, int ttsHidden) {
        long h2 = 2L * llmHidden;
        proj1 = src.load(m, PREFIX + "input_proj.0.weight", type, h2, llmHidden);
        proj1Bias = src.load(m, PREFIX + "input_proj.0.bias", type, h2);
        proj2 = src.load(m, PREFIX + "input_proj.2.weight", type, ttsHidden, h2);
        proj2Bias = src.load(m, PREFIX + "input_proj.2.bias", type, ttsHidden);
        gate = src.load(m, PREFIX + "gate.0.weight", type, ttsHidden, 2L * ttsHidden);
        gateBias = src.load(m, PREFIX + "gate.0.bias", type, ttsHidden);
    }

    /** hidden [n, H] and tokenEmbeddings [n, D] -> fused rows [n, D]. */
    NDArray fuse(NDArray hidden, NDArray tokenEmbeddings) {
        return Ops.scoped(() -> {
            // r = input_proj(h): Linear, ReLU, Linear
            NDArray r = Ops.linear(Ops.linear(hidden, proj1, proj1Bias).maximum(0f), proj2, proj2Bias);
            // g = sigmoid(gate.0([r; e]))
            NDArray g = Ops.linear(r.concat(tokenEmbeddings, -1), gate, gateBias).getNDArrayInternal().sigmoid();
            // x = g·r + (1−g)·e
            return r.mul(g).add(tokenEmbeddings.mul(g.neg().add(1f)));
        });
    }
}
