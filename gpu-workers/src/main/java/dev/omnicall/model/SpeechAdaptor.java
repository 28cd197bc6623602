package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.config.SpeechBlocksConfig;
import dev.omnicall.model.io.TensorSource;

/**
 * Speech adaptor (paper §2.2): concatenate every k consecutive encoder frames (frame-major), then
 * Linear -> ReLU -> Linear into the LLM's embedding space.
 */
public final class SpeechAdaptor {
    static final String PREFIX = "model.speech_projector.";

    final NDArray linear1; // [projectorHidden, k*encoderDim]
    final NDArray linear1Bias; // [projectorHidden]
    final NDArray linear2; // [llmDim, projectorHidden]
    final NDArray linear2Bias; // [llmDim]
    private final int k;
    private final int encoderDim;

    public SpeechAdaptor(TensorSource src, NDManager m, DataType t, SpeechBlocksConfig c) {
        this.k = c.speechEncoderDsRate();
        this.encoderDim = c.speechEncoderHiddenSize();
        long in = (long) k * encoderDim;
        linear1 = src.load(m, PREFIX + "linear1.weight", t, c.speechProjectorHiddenSize(), in);
        linear1Bias = src.load(m, PREFIX + "linear1.bias", t, c.speechProjectorHiddenSize());
        linear2 = src.load(m, PREFIX + "linear2.weight", t, c.hiddenSize(), c.speechProjectorHiddenSize());
        linear2Bias = src.load(m, PREFIX + "linear2.bias", t, c.hiddenSize());
    }

    /** Speech embeddings (rows) that {@code frames} encoder frames give: T/k; too few frames for one is an error. */
    public long rows(long frames) {
        long rows = frames / k;
        if (rows == 0) {
            throw new IllegalArgumentException("speech too short: " + frames + " encoder frames, the adaptor needs at least "
                    + k);
        }
        return rows;
    }

    /** encoder states [T, encoderDim] -> speech embeddings [T/k, llmDim]. */
    public NDArray forward(NDArray h) {
        return Ops.scoped(() -> {
            // drop T mod k frames, stack k frames per row
            long rows = rows(h.getShape().get(0));
            NDArray x = h.get(new NDIndex(":{}", rows * k)).reshape(rows, (long) k * encoderDim);
            // Linear -> ReLU -> Linear
            x = Ops.linear(x, linear1, linear1Bias).getNDArrayInternal().relu();
            return Ops.linear(x, linear2, linear2Bias);
        });
    }
}
