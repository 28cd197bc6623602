package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * StreamingFlow on a tiny random flow.pt (the encoder of {@link FlowEncoderTest} 32 wide, the estimator 16
 * wide with 2 mid stages), read with two attention layouts: causal (chunks of one token / two frames, so a
 * frame sees nothing after its token) and chunked (4 tokens / 8 frames, every earlier chunk visible, as the
 * published model at 50 / 100). The slow obvious references are the whole reply through
 * {@link FlowMatching#mel} and the reference's streaming loop (the flow re-run over every unit so far).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StreamingFlowTest {
    static final FlowEncoderConfig CAUSAL_ENCODER = new FlowEncoderConfig(64, 32, 2, 48, 2, 2, 3, 2, 80, 1);
    static final FlowEstimator.Config CAUSAL_ESTIMATOR = new FlowEstimator.Config(320, 80, 16, 2, 8, 1, 2, 2);
    static final FlowEncoderConfig CHUNKED_ENCODER = FlowEncoderTest.TINY;
    static final FlowEstimator.Config CHUNKED_ESTIMATOR = new FlowEstimator.Config(320, 80, 16, 2, 8, 1, 2, 8);
    static final int XVECTOR = 192;
    static final int ALL = Integer.MAX_VALUE;

    private NDManager manager;
    private FlowMatching causal;
    private FlowMatching chunked;
    private float[] xvector;

    @BeforeAll
    void load() throws Exception {
        manager = NDManager.newBaseManager();
        Path tmp = Files.createTempDirectory("streaming-flow");
        Path file = writeTinyFlow(tmp);
        causal = FlowMatching.load(file, manager, CAUSAL_ENCODER, CAUSAL_ESTIMATOR, FlowMatching.DEFAULT_NOISE_SEED);
        chunked = FlowMatching.load(file, manager, CHUNKED_ENCODER, CHUNKED_ESTIMATOR, FlowMatching.DEFAULT_NOISE_SEED);
        xvector = gaussian(new SplittableRandom(8), XVECTOR);
    }

    @AfterAll
    void close() {
        manager.close();
    }

    /** The tiny flow.pt (the shapes do not depend on the chunk sizes, so both layouts read one file). */
    static Path writeTinyFlow(Path dir) throws Exception {
        Path file = dir.resolve("flow.pt");
        Map<String, long[]> shapes = new LinkedHashMap<>(CAUSAL_ENCODER.tensorShapes());
        shapes.put("spk_embed_affine_layer.weight", new long[] {80, XVECTOR});
        shapes.put("spk_embed_affine_layer.bias", new long[] {80});
        shapes.putAll(CAUSAL_ESTIMATOR.tensorShapes());
        FlowEncoderTest.write(file, shapes, null, 4);
        return file;
    }

    @Test
    void shouldEqualTheWholeReplyWhenAttentionIsCausalAndTheContextUnbounded() {
        // Given a causal flow and 37 units pushed 10 at a time, every earlier frame kept as context
        long[] units = units(37, 1);
        try (NDManager m = manager.newSubManager()) {
            float[] whole = causal.mel(m, units, xvector).toFloatArray();
            Streamed s = stream(new StreamingFlow(causal, m, xvector, ALL), units, 10);
            // Then two frames per unit, and the same mel as the whole reply (float reordering only)
            assertThat(s.frames).isEqualTo(74);
            float diff = HiftVocoderTest.maxAbsDiff(s.mel, whole);
            System.out.printf("causal flow, streamed (W=10, all context) vs whole: max abs diff %.3g, rms %.3g%n",
                    diff, HiftVocoderTest.rms(whole));
            assertThat(diff).isLessThan(1e-4f);
            // And the first push emitted 7 tokens (3 held for the look-ahead), the finish the 3 held ones
            assertThat(s.newFrames.get(0)).isEqualTo(14);
            assertThat(s.newFrames.get(s.newFrames.size() - 1)).isEqualTo(6);
        }
    }

    @Test
    void shouldEqualTheReferenceStreamingWhenAttentionIsChunkedAndTheContextUnbounded() {
        // Given the chunked flow and 37 units pushed 10 at a time
        long[] units = units(37, 2);
        try (NDManager m = manager.newSubManager()) {
            float[] whole = chunked.mel(m, units, xvector).toFloatArray();
            Streamed s = stream(new StreamingFlow(chunked, m, xvector, ALL), units, 10);
            float[] reference = referenceStreaming(chunked, m, units, xvector, 10);
            // Then it is the reference's streaming (the flow over every unit so far), frame for frame
            float diff = HiftVocoderTest.maxAbsDiff(s.mel, reference);
            System.out.printf("chunked flow: streamed vs the reference's streaming max abs diff %.3g; both vs whole: "
                    + "rms diff %.3g (mel rms %.3g)%n", diff, rmsDiff(reference, whole), HiftVocoderTest.rms(whole));
            assertThat(diff).isLessThan(1e-4f);
            // And both differ from the whole reply only where a frame was emitted with its chunk still open: the
            // first push's tokens 0..3 (chunk 0, complete with its look-ahead) are the whole reply's
            assertThat(HiftVocoderTest.maxAbsDiff(columns(s.mel, 0, 8), columns(whole, 0, 8))).isLessThan(1e-4f);
            assertThat(rmsDiff(s.mel, whole)).isGreaterThan(1e-4);
        }
    }

    @Test
    void shouldKeepTheWorkOfAChunkFlatAlongALongReply() {
        // Given a 400-unit reply pushed 10 at a time with a context of 8 units
        long[] units = units(400, 3);
        try (NDManager m = manager.newSubManager()) {
            Streamed s = stream(new StreamingFlow(causal, m, xvector, 8), units, 10);
            // Then the push that brings unit 400 computes no more rows than the one that brings unit 40
            StreamingFlow.Work early = s.work.get(3);
            StreamingFlow.Work late = s.work.get(39);
            System.out.println("work at unit 40: " + early + ", at unit 400: " + late);
            assertThat(late.estimatorFrames()).isLessThanOrEqualTo(early.estimatorFrames()).isEqualTo(2 * (8 + 10));
            assertThat(late.encoderTokens()).isLessThanOrEqualTo(early.encoderTokens()).isEqualTo(8 + 10 + 3);
            assertThat(late.newFrames()).isEqualTo(20);
            assertThat(s.frames).isEqualTo(800);
            // And the bounded context is an approximation: exact while the context still reaches the start,
            // then off by a stated amount (the random weights' attention spreads evenly over all it sees, so
            // dropping the far past matters more here than it may with trained weights: unmeasured)
            float[] whole = causal.mel(m, units, xvector).toFloatArray();
            assertThat(HiftVocoderTest.maxAbsDiff(columns(s.mel, 0, 16), columns(whole, 0, 16))).isLessThan(1e-4f);
            double bounded = rmsDiff(s.mel, whole);
            System.out.printf("causal flow, 400 units, context 8 units, vs whole: rms diff %.3g "
                    + "(max %.3g), mel rms %.3g%n", bounded, HiftVocoderTest.maxAbsDiff(s.mel, whole),
                    HiftVocoderTest.rms(whole));
            assertThat(bounded).isLessThan(0.4 * HiftVocoderTest.rms(whole));
        }
    }

    @Test
    void shouldEmitNothingUntilATokenIsPastTheLookAheadAndRefusePushesAfterTheEnd() {
        try (NDManager m = manager.newSubManager()) {
            StreamingFlow flow = new StreamingFlow(causal, m, xvector, ALL);
            assertThat(flow.push(new long[] {1, 2, 3})).isEmpty();
            assertThat(flow.push(new long[] {4})).hasSize(80 * 2);
            assertThat(flow.finish()).hasSize(80 * 6);
            assertThat(flow.emittedFrames()).isEqualTo(8);
            assertThatThrownBy(() -> flow.push(new long[] {5})).isInstanceOf(IllegalStateException.class);
        }
    }

    /** What a stream emitted: the mel of every push and the finish joined, [80, frames]. */
    record Streamed(float[] mel, int frames, List<Integer> newFrames, List<StreamingFlow.Work> work) {
    }

    static Streamed stream(StreamingFlow flow, long[] units, int w) {
        List<float[]> pieces = new ArrayList<>();
        List<Integer> newFrames = new ArrayList<>();
        List<StreamingFlow.Work> work = new ArrayList<>();
        for (int i = 0; i < units.length; i += w) {
            pieces.add(flow.push(Arrays.copyOfRange(units, i, Math.min(units.length, i + w))));
            newFrames.add(pieces.get(pieces.size() - 1).length / 80);
            work.add(flow.lastWork());
        }
        pieces.add(flow.finish());
        newFrames.add(pieces.get(pieces.size() - 1).length / 80);
        work.add(flow.lastWork());
        float[] mel = joinFrames(pieces);
        return new Streamed(mel, mel.length / 80, newFrames, work);
    }

    /**
     * LLaMA-Omni2's process_unit_chunk on the same schedule as {@link #stream}: after every w units and once
     * more at the end (finalize), the flow over every unit so far, the new tokens' frames kept.
     */
    static float[] referenceStreaming(FlowMatching flow, NDManager m, long[] units, float[] xvector, int w) {
        List<float[]> pieces = new ArrayList<>();
        int offset = 0;
        int lookahead = flow.encoder().config().lookahead();
        for (int n = Math.min(w, units.length); ; n = Math.min(units.length, n + w)) {
            offset = referenceCall(flow, m, units, xvector, n, Math.max(offset, n - lookahead), offset, pieces);
            if (n == units.length) {
                referenceCall(flow, m, units, xvector, n, n, offset, pieces);
                return joinFrames(pieces);
            }
        }
    }

    /** flow.inference over units [0, n), mu trimmed to the tokens before end, frames of [offset, end) kept. */
    private static int referenceCall(FlowMatching flow, NDManager m, long[] units, float[] xvector, int n, int end,
            int offset, List<float[]> pieces) {
        if (end > offset) {
            NDArray mu = flow.encoder().forward(m, Arrays.copyOf(units, n)).get(new NDIndex(":, :{}", 2 * end));
            float[] mel = flow.solve(mu, flow.speaker(m, xvector), flow.noise(m, 0, 2L * end)).toFloatArray();
            pieces.add(columns(mel, 2 * offset, 2 * end));
        }
        return end;
    }

    /** Columns [from, to) of a [80, T] row-major mel. */
    static float[] columns(float[] mel, int from, int to) {
        int t = mel.length / 80;
        float[] out = new float[80 * (to - from)];
        for (int b = 0; b < 80; b++) {
            System.arraycopy(mel, b * t + from, out, b * (to - from), to - from);
        }
        return out;
    }

    static float[] joinFrames(List<float[]> pieces) {
        int total = pieces.stream().mapToInt(p -> p.length / 80).sum();
        float[] out = new float[80 * total];
        int at = 0;
        for (float[] p : pieces) {
            int n = p.length / 80;
            for (int b = 0; b < 80; b++) {
                System.arraycopy(p, b * n, out, b * total + at, n);
            }
            at += n;
        }
        return out;
    }

    static double rmsDiff(float[] a, float[] b) {
        assertThat(b).hasSameSizeAs(a);
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) (a[i] - b[i]) * (a[i] - b[i]);
        }
        return Math.sqrt(s / a.length);
    }

    static long[] units(int n, long seed) {
        return new SplittableRandom(seed).longs(n, 0, 64).toArray();
    }

    static float[] gaussian(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }
}
