package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;

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

    /** What one reply's step gave: the audio of its push and of its finish (empty where it had none). */
    public record StepAudio(float[] pushed, float[] finished) {
    }

    /**
     * Several replies' steps at once (streams of the same decoder): reply i pushes {@code units.get(i)} (none when
     * empty) and then finishes when {@code finish[i]}, as {@link #push} then {@link #finish} on that stream alone
     * would, with the same audio within float rounding. The flow runs once over all pushes and once over all
     * finishes (one padded encoder forward, one estimator batch per Euler step), HiFT likewise, whatever the number
     * of replies; each stream keeps its own state (units, emitted tokens, HiFT history, source phase, held tail).
     */
    public static List<StepAudio> stepAll(List<SpeechStream> streams, List<long[]> units, boolean[] finish) {
        return stepAll(streams, units, finish, LengthGroups.single());
    }

    /**
     * {@link #stepAll} with each stage's rows cut into a few batches of similar length ({@link LengthGroups}: the
     * flow's by window frames, HiFT's by the frames it decodes), so that rows of very different lengths are not all
     * padded to the longest; rows within the padding share stay one batch. Same audio within float rounding.
     */
    public static List<StepAudio> stepAll(List<SpeechStream> streams, List<long[]> units, boolean[] finish,
            LengthGroups groups) {
        List<StreamingFlow> pushFlows = new ArrayList<>();
        List<StreamingHift> pushHifts = new ArrayList<>();
        List<long[]> pushUnits = new ArrayList<>();
        List<StreamingFlow> finishFlows = new ArrayList<>();
        List<StreamingHift> finishHifts = new ArrayList<>();
        for (int i = 0; i < streams.size(); i++) {
            SpeechStream s = streams.get(i);
            if (units.get(i).length > 0) {
                pushFlows.add(s.flow);
                pushHifts.add(s.hift);
                pushUnits.add(units.get(i));
            }
            if (finish[i]) {
                finishFlows.add(s.flow);
                finishHifts.add(s.hift);
            }
        }
        // mel: the pushes, then the finishes (a stream's flow finishes after its push, as alone)
        List<float[]> pushMels = pushFlows.isEmpty() ? List.of() : StreamingFlow.pushAll(pushFlows, pushUnits, groups);
        List<float[]> finishMels = finishFlows.isEmpty() ? List.of() : StreamingFlow.finishAll(finishFlows, groups);
        // audio: the pushes, then the finishes
        List<float[]> pushed = pushHifts.isEmpty() ? List.of() : StreamingHift.pushAll(pushHifts, pushMels, groups);
        List<float[]> finished = finishHifts.isEmpty() ? List.of() : StreamingHift.finishAll(finishHifts, finishMels, groups);
        List<StepAudio> out = new ArrayList<>(streams.size());
        int p = 0;
        int f = 0;
        for (int i = 0; i < streams.size(); i++) {
            float[] a = units.get(i).length > 0 ? pushed.get(p++) : new float[0];
            float[] b = finish[i] ? finished.get(f++) : new float[0];
            out.add(new StepAudio(a, b));
        }
        return out;
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
