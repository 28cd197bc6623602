package dev.omnicall.bridge.vad;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.Optional;

/** The Silero model for the VAD tests: loaded from the build's copy, or the test class is skipped with the reason. */
final class SileroTestModel {
    private SileroTestModel() {
    }

    /** Loads silero_vad.onnx as the build fetched it; skips the calling test class when npm could not fetch it. */
    static SileroModel loadOrSkip() throws Exception {
        return loadOrSkip(SileroModel.RATE_16K);
    }

    /** As {@link #loadOrSkip()}, running at {@code rate} (16000 or 8000). */
    static SileroModel loadOrSkip(int rate) throws Exception {
        Optional<Path> path = VadFactory.locateModel();
        assumeTrue(path.isPresent(), "silero_vad.onnx not fetched by the build (npm unavailable)");
        return SileroModel.load(path.get(), rate);
    }

    /**
     * The slow, obvious reference: one ONNX Runtime run per frame of one call, its own input built here (the context
     * is the previous frame's last samples at the model's rate; at 8 kHz every other sample of the 16 kHz frame).
     */
    static float[] referenceProbabilities(SileroModel model, short[] pcm16k) throws Exception {
        int rate = model.sampleRate();
        int step = 16000 / rate;
        int ctx = rate == 16000 ? 64 : 32;
        int n = Vad.FRAME_SAMPLES / step;
        float[] input = new float[ctx + n];
        float[] state = new float[2 * 128];
        int frames = pcm16k.length / Vad.FRAME_SAMPLES;
        float[] p = new float[frames];
        ai.onnxruntime.OrtEnvironment env = model.env();
        try (ai.onnxruntime.OnnxTensor sr = ai.onnxruntime.OnnxTensor.createTensor(env,
                java.nio.LongBuffer.wrap(new long[] {rate}), new long[0])) {
            for (int f = 0; f < frames; f++) {
                for (int i = 0; i < n; i++) {
                    input[ctx + i] = pcm16k[f * Vad.FRAME_SAMPLES + i * step] / 32768f;
                }
                try (ai.onnxruntime.OnnxTensor x = ai.onnxruntime.OnnxTensor.createTensor(env,
                        java.nio.FloatBuffer.wrap(input), new long[] {1, ctx + n});
                     ai.onnxruntime.OnnxTensor h = ai.onnxruntime.OnnxTensor.createTensor(env,
                             java.nio.FloatBuffer.wrap(state), new long[] {2, 1, 128});
                     ai.onnxruntime.OrtSession.Result r = model.session().run(java.util.Map.of("input", x, "state", h,
                             "sr", sr))) {
                    p[f] = ((float[][]) r.get("output").orElseThrow().getValue())[0][0];
                    ((ai.onnxruntime.OnnxTensor) r.get("stateN").orElseThrow()).getFloatBuffer().get(state);
                }
                System.arraycopy(input, n, input, 0, ctx);
            }
        }
        return p;
    }

    static void close(SileroModel model) {
        if (model != null) {
            model.close();
        }
    }
}
