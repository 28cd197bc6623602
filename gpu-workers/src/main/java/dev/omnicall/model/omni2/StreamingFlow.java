package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

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

    /** The window a call emitting tokens [emittedTokens, end) runs over: its units and where it sits. */
    private record Window(long[] units, int windowStart, int first, int end) {
        int frames(int stride) {
            return (end - windowStart) * stride;
        }
    }

    /** The window that emits tokens [emittedTokens, end); null (and no work) when there is none. */
    private Window plan(int end) {
        int first = emittedTokens;
        if (end <= first) {
            lastWork = new Work(0, 0, 0);
            return null;
        }
        if ((long) end * stride > FlowMatching.MAX_FRAMES) {
            throw new IllegalArgumentException(end + " units make " + (long) end * stride
                    + " mel frames, more than the flow noise's " + FlowMatching.MAX_FRAMES);
        }
        int windowStart = (int) Math.max(0, (long) first - contextTokens);
        return new Window(Arrays.copyOfRange(units, windowStart, unitCount), windowStart, first, end);
    }

    /** The window's tokens were emitted. */
    private void emitted(Window w) {
        lastWork = new Work(unitCount - w.windowStart(), w.frames(stride), (w.end() - w.first()) * stride);
        emittedTokens = w.end();
    }

    /** Emits tokens [emittedTokens, end). */
    private float[] run(int end) {
        Window w = plan(end);
        if (w == null) {
            return new float[0];
        }
        try (NDManager scope = manager.newSubManager()) {
            // the encoder over the window's units, held look-ahead tokens included; their frames trimmed
            int frames = w.frames(stride);
            NDArray mu = flow.encoder().forward(scope, w.units(), w.windowStart()).get(new NDIndex(":, :{}", frames));
            // the Euler steps over the window from the noise at its absolute frames; the new tokens' frames kept
            long firstFrame = (long) w.windowStart() * stride;
            NDArray mel = flow.solve(mu, flow.speaker(scope, xvector), flow.noise(scope, firstFrame, frames),
                    firstFrame).get(new NDIndex(":, {}:", (w.first() - w.windowStart()) * stride));
            emitted(w);
            return mel.toFloatArray();
        }
    }

    /**
     * {@link #push} for several replies at once (same flow): → each reply's new mel, as its own push would give
     * (within float rounding), from one padded encoder forward and one estimator batch per Euler step for all.
     */
    public static List<float[]> pushAll(List<StreamingFlow> flows, List<long[]> newUnits) {
        return pushAll(flows, newUnits, LengthGroups.single());
    }

    /**
     * {@link #pushAll} with the windows cut into batches of similar frame counts ({@code groups}): one padded encoder
     * forward and one estimator batch per Euler step for each batch.
     */
    public static List<float[]> pushAll(List<StreamingFlow> flows, List<long[]> newUnits, LengthGroups groups) {
        List<Window> windows = new ArrayList<>(flows.size());
        for (int i = 0; i < flows.size(); i++) {
            StreamingFlow f = flows.get(i);
            f.append(newUnits.get(i));
            windows.add(f.plan(Math.max(f.emittedTokens, f.unitCount - f.lookahead)));
        }
        return runAll(flows, windows, groups);
    }

    /** {@link #finish} for several replies at once, batched as {@link #pushAll}. */
    public static List<float[]> finishAll(List<StreamingFlow> flows) {
        return finishAll(flows, LengthGroups.single());
    }

    /** {@link #finishAll} with the windows cut into batches of similar frame counts, as {@link #pushAll}. */
    public static List<float[]> finishAll(List<StreamingFlow> flows, LengthGroups groups) {
        List<Window> windows = new ArrayList<>(flows.size());
        for (StreamingFlow f : flows) {
            if (f.finished) {
                throw new IllegalStateException("the reply was finished; start a new stream");
            }
            windows.add(f.plan(f.unitCount));
        }
        List<float[]> mels = runAll(flows, windows, groups);
        flows.forEach(f -> f.finished = true);
        return mels;
    }

    /**
     * Runs the non-null windows in the batches {@code groups} cuts them into by frame count; → each flow's new mel
     * [melBins, new frames] (empty: none).
     */
    private static List<float[]> runAll(List<StreamingFlow> flows, List<Window> windows, LengthGroups groups) {
        List<float[]> out = new ArrayList<>(Collections.nCopies(flows.size(), new float[0]));
        List<Integer> rows = new ArrayList<>();
        for (int i = 0; i < windows.size(); i++) {
            if (windows.get(i) != null) {
                rows.add(i);
            }
        }
        int[] lengths = new int[rows.size()];
        for (int r = 0; r < lengths.length; r++) {
            lengths[r] = windows.get(rows.get(r)).frames(flows.get(rows.get(r)).stride);
        }
        for (int[] batch : groups.split(lengths)) {
            List<Integer> batchRows = new ArrayList<>(batch.length);
            for (int r : batch) {
                batchRows.add(rows.get(r));
            }
            runBatch(flows, windows, batchRows, out);
        }
        return out;
    }

    /** Runs the windows of {@code rows} as rows of one padded batch; each flow's new mel into {@code out}. */
    private static void runBatch(List<StreamingFlow> flows, List<Window> windows, List<Integer> rows,
            List<float[]> out) {
        StreamingFlow lead = flows.get(rows.get(0));
        FlowMatching flow = lead.flow;
        int stride = lead.stride;
        int mel = lead.melBins;
        int b = rows.size();
        List<long[]> units = new ArrayList<>(b);
        List<float[]> xvectors = new ArrayList<>(b);
        long[] firstTokens = new long[b];
        long[] firstFrames = new long[b];
        int[] frames = new int[b];
        for (int r = 0; r < b; r++) {
            StreamingFlow f = flows.get(rows.get(r));
            if (f.flow != flow) {
                throw new IllegalArgumentException("streams of different flow models cannot share a batch");
            }
            Window w = windows.get(rows.get(r));
            units.add(w.units());
            xvectors.add(f.xvector);
            firstTokens[r] = w.windowStart();
            firstFrames[r] = (long) w.windowStart() * stride;
            frames[r] = w.frames(stride);
        }
        int longest = Arrays.stream(frames).max().orElseThrow();
        try (NDManager scope = lead.manager.newSubManager()) {
            // the encoder over all windows (padded), each row's held look-ahead frames beyond its length
            NDArray mu = flow.encoder().forwardAll(scope, units, firstTokens).get(new NDIndex(":, :, :{}", longest));
            // the Euler steps over all windows, each from the noise at its absolute frames
            NDArray x = flow.solveAll(mu, flow.speakers(scope, xvectors),
                    flow.noiseAll(scope, firstFrames, frames, longest), firstFrames, frames);
            float[] all = x.toFloatArray(); // [b, mel, longest]
            // each row's new tokens' frames
            for (int r = 0; r < b; r++) {
                Window w = windows.get(rows.get(r));
                int from = (w.first() - w.windowStart()) * stride;
                int n = frames[r] - from;
                float[] rowMel = new float[mel * n];
                for (int bin = 0; bin < mel; bin++) {
                    System.arraycopy(all, (r * mel + bin) * longest + from, rowMel, bin * n, n);
                }
                out.set(rows.get(r), rowMel);
                flows.get(rows.get(r)).emitted(w);
            }
        }
    }
}
