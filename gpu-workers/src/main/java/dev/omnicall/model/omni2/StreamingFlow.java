package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import java.util.Arrays;

/**
 * Units → mel for one reply, a chunk at a time, at a cost per chunk that does not grow with the reply
 * (the reference re-runs the flow over every unit so far on every chunk).
 *
 * <p>Each {@link #push} appends units and returns the mel of the tokens that became final: all but the
 * last {@code lookahead} (3) tokens, whose pre-lookahead convolution still waits for the tokens after
 * them; {@link #finish} returns the rest. Two frames per token. Each push is the reference's step
 * ({@code process_unit_chunk}: the encoder over the units, its output trimmed by the held tokens' frames,
 * the 10 Euler steps from the fixed noise, the new tokens' frames kept) run over a window instead of the
 * whole reply: the units from {@code contextTokens} before the first new token on. The attention chunks
 * keep their places in the reply (borders counted from its start) and the noise is taken at the absolute
 * frames.
 *
 * <p>Exactness: with a context at least as long as the reply this is the reference's streaming, frame for
 * frame. A bounded context is the approximation: the model's attention is chunked but every earlier chunk
 * stays visible, so a frame depends on everything before it; the window drops what lies further back, and
 * its first rows see zeros in the causal convolutions. The reference's streaming itself differs from the
 * whole reply where a frame was emitted while its attention chunk was still open (it never sees that
 * chunk's later tokens).
 */
public final class StreamingFlow {
    private final FlowMatching flow;
    private final int contextTokens;
    private final int lookahead;
    private final int stride;
    private final int melBins;
    private final float[] xvector;
    private final NDManager manager;
    private long[] units = new long[64];
    private int unitCount;
    private int emittedTokens;
    private boolean finished;
    private Work lastWork = new Work(0, 0, 0);

    /** What the last push computed: encoder tokens, estimator frames (per pass) and new mel frames. */
    public record Work(int encoderTokens, int estimatorFrames, int newFrames) {
    }

    /** @param contextTokens units kept before the new ones (≥ 0; Integer.MAX_VALUE: all, the reference's way) */
    public StreamingFlow(FlowMatching flow, NDManager manager, float[] xvector, int contextTokens) {
        if (contextTokens < 0) {
            throw new IllegalArgumentException("the context must be >= 0 tokens, got " + contextTokens);
        }
        this.flow = flow;
        this.manager = manager;
        this.contextTokens = contextTokens;
        FlowEncoderConfig c = flow.encoder().config();
        this.lookahead = c.lookahead();
        this.stride = c.upStride();
        this.melBins = c.melBins();
        this.xvector = xvector.clone();
    }

    /** Appends units; → mel [melBins, frames] row-major of the tokens that became final (maybe none). */
    public float[] push(long[] newUnits) {
        append(newUnits);
        return run(Math.max(emittedTokens, unitCount - lookahead));
    }

    /** The reply ended: → the mel of every token not emitted yet. */
    public float[] finish() {
        float[] mel = run(unitCount);
        finished = true;
        return mel;
    }

    /** Frames emitted so far. */
    public long emittedFrames() {
        return (long) emittedTokens * stride;
    }

    public Work lastWork() {
        return lastWork;
    }

    public int melBins() {
        return melBins;
    }

    /** The most units one reply may have: the flow noise's frames ({@link FlowMatching#MAX_FRAMES}) / 2. */
    public int maxUnits() {
        return FlowMatching.MAX_FRAMES / stride;
    }

    private void append(long[] newUnits) {
        if (finished) {
            throw new IllegalStateException("the reply was finished; start a new stream");
        }
        if (unitCount + newUnits.length > units.length) {
            units = Arrays.copyOf(units, Math.max(2 * units.length, unitCount + newUnits.length));
        }
        System.arraycopy(newUnits, 0, units, unitCount, newUnits.length);
        unitCount += newUnits.length;
    }

    /** Emits tokens [emittedTokens, end). */
    private float[] run(int end) {
        int first = emittedTokens;
        if (end <= first) {
            lastWork = new Work(0, 0, 0);
            return new float[0];
        }
        if ((long) end * stride > FlowMatching.MAX_FRAMES) {
            throw new IllegalArgumentException(end + " units make " + (long) end * stride
                    + " mel frames, more than the flow noise's " + FlowMatching.MAX_FRAMES);
        }
        int windowStart = (int) Math.max(0, (long) first - contextTokens);
        try (NDManager scope = manager.newSubManager()) {
            // the encoder over the window's units, held look-ahead tokens included; their frames trimmed
            long[] window = Arrays.copyOfRange(units, windowStart, unitCount);
            int frames = (end - windowStart) * stride;
            NDArray mu = flow.encoder().forward(scope, window, windowStart).get(new NDIndex(":, :{}", frames));
            // the Euler steps over the window from the noise at its absolute frames; the new tokens' frames kept
            long firstFrame = (long) windowStart * stride;
            NDArray mel = flow.solve(mu, flow.speaker(scope, xvector), flow.noise(scope, firstFrame, frames),
                    firstFrame).get(new NDIndex(":, {}:", (first - windowStart) * stride));
            lastWork = new Work(unitCount - windowStart, frames, (end - first) * stride);
            emittedTokens = end;
            return mel.toFloatArray();
        }
    }
}
