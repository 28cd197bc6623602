package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDManager;

/**
 * Units → 24 kHz audio for one reply, streamed: {@link StreamingFlow} then {@link StreamingHift}. Push
 * the units as the TTS LM writes them (W = 10 at a time in LLaMA-Omni2), then {@link #finish}; every
 * call returns the audio that is ready. Total: 960 samples per unit (2 mel frames × 480). With W = 10
 * the first push gives 2880 samples (120 ms; 7 tokens' mel less the 160 ms held back for the
 * cross-fade), every later one 9600 (400 ms), as the reference.
 *
 * <p>Cost per push: the encoder over ≤ contextTokens + W + 3 tokens, 10 Euler steps (CFG batch of 2) over
 * ≤ 2·(contextTokens + W) frames, HiFT over 8 + 2W frames: independent of how long the reply already is.
 */
public final class SpeechStream {
    /** Units before the new ones that each push runs the flow over again: 25 (1 s; see the README). */
    public static final int DEFAULT_CONTEXT_TOKENS = 25;

    private final StreamingFlow flow;
    private final StreamingHift hift;

    public SpeechStream(FlowMatching flow, HiftVocoder hift, NDManager manager, float[] xvector) {
        this(flow, hift, manager, xvector, DEFAULT_CONTEXT_TOKENS);
    }

    public SpeechStream(FlowMatching flow, HiftVocoder hift, NDManager manager, float[] xvector, int contextTokens) {
        this.flow = new StreamingFlow(flow, manager, xvector, contextTokens);
        this.hift = new StreamingHift(hift, manager);
    }

    /** New units → the audio that is ready (maybe empty). */
    public float[] push(long[] units) {
        float[] mel = flow.push(units);
        return hift.push(mel, mel.length / flow.melBins());
    }

    /** The reply ended → the rest of its audio. */
    public float[] finish() {
        float[] mel = flow.finish();
        return hift.finish(mel, mel.length / flow.melBins());
    }

    /**
     * The most units one reply may have ({@link FlowMatching#MAX_FRAMES} mel frames, 300 s): a push beyond it is
     * refused, so a caller stops its reply there ({@code Omni2Session} ends it with a final chunk).
     */
    public int maxUnits() {
        return flow.maxUnits();
    }

    /** What the last call computed: the flow's windows and HiFT's frames. */
    public Work lastWork() {
        StreamingFlow.Work w = flow.lastWork();
        return new Work(w.encoderTokens(), w.estimatorFrames(), hift.lastFrames());
    }

    /** Rows each stage ran over in the last call (per estimator pass; 20 passes per call). */
    public record Work(int encoderTokens, int estimatorFrames, int hiftFrames) {
    }
}
