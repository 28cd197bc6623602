package dev.omnicall.bridge.vad;

/**
 * Silero behind an energy gate: a frame of clear silence is not given to the model. A frame is skipped when its
 * RMS level is under the gate <em>and</em> the model's last answer was already silence (under
 * {@value #QUIET_PROBABILITY}); it scores 0 and only the model's 64-sample context moves on. When the gate opens
 * the model first hears the last {@code WARM_UP_FRAMES} (8) skipped frames, so its recurrent state has heard the
 * run-up to the onset as it would have without the gate. Speech onsets always reach the model (they are louder
 * than the gate), and so does the decay of speech into silence (the model is still above the quiet probability
 * there). The state is not bit-identical to Silero alone (it skipped the silence before the run-up), so the
 * probabilities differ slightly: {@code EnergyGatedVadTest} holds the decisions to a stated tolerance on espeak-ng
 * speech, digital silence and line noise (≤ 2 % of frames change side, ≤ 0.5 % from speech straight to silence or
 * back, onsets never later and at most one frame earlier, the same utterances within one frame).
 *
 * <p>A caller listening to the bot sends silence or line noise most of the call; those frames cost an RMS (512
 * multiply-adds) instead of an ONNX Runtime run.
 */
public final class EnergyGatedVad implements BatchableVad {
    /** The model's answer under which the next quiet frame may be skipped. */
    static final float QUIET_PROBABILITY = 0.2f;
    /** The default gate: -50 dBFS RMS (G.711 idle-line noise sits near -60 dBFS, speech onsets above -45). */
    public static final double DEFAULT_GATE_DBFS = -50.0;

    /** Skipped frames replayed to the model when the gate opens, so its state has heard the run-up to the onset. */
    static final int WARM_UP_FRAMES = Integer.getInteger("omnicall.vad.gate-warm-up", 8);

    private final SileroVad silero;
    private final double gateRms;
    private final short[][] recent = new short[WARM_UP_FRAMES + 1][];
    private short[] lastModelFrame;
    private short[][] warmUp;
    private static final short[][] NO_FRAMES = new short[0][];
    private int recentCount;
    private int recentNext;
    private float last;
    private long frames;
    private long skipped;

    public EnergyGatedVad(SileroVad silero, double gateDbfs) {
        if (!(gateDbfs < 0 && gateDbfs > -96)) {
            throw new IllegalArgumentException("energy gate " + gateDbfs + " dBFS is outside -96..0");
        }
        this.silero = silero;
        this.gateRms = 32768.0 * Math.pow(10, gateDbfs / 20);
    }

    @Override
    public float speechProbability(short[] frame) {
        float gated = gate(frame);
        if (!Float.isNaN(gated)) {
            return gated;
        }
        for (short[] w : takeWarmUp()) {
            silero.speechProbability(w);
        }
        float p = silero.speechProbability(frame);
        modelAnswered(frame, p);
        return p;
    }

    /**
     * The gate's half of {@link #speechProbability}: the probability of a frame the model does not need to hear (0),
     * or NaN when the model must run {@code frame} now (after this call has replayed the skipped run-up to it).
     */
    @Override
    public float gate(short[] frame) {
        frames++;
        if (last < QUIET_PROBABILITY && rms(frame) < gateRms) {
            skipped++;
            silero.skip(frame);
            if (WARM_UP_FRAMES > 0) {
                recent[recentNext] = frame.clone();
                recentNext = (recentNext + 1) % recent.length;
                recentCount = Math.min(recentCount + 1, recent.length);
            }
            last = 0f;
            return 0f;
        }
        if (recentCount > 0) {
            // the gate opens: the model hears the last skipped frames first, each with the samples before it as context
            int replay = Math.min(recentCount, WARM_UP_FRAMES);
            short[] before = recentCount > replay ? recent[(recentNext - replay - 1 + recent.length) % recent.length]
                    : lastModelFrame;
            if (before != null) {
                silero.skip(before);
            }
            short[][] replayed = new short[replay][];
            for (int i = replay; i > 0; i--) {
                replayed[replay - i] = recent[(recentNext - i + recent.length) % recent.length];
            }
            warmUp = replayed;   // run before the frame, by speechProbability or by the batch
            recentCount = 0;
        }
        return Float.NaN;
    }

    /**
     * The skipped frames the model must hear, in order, before the frame {@link #gate} just returned NaN for (the
     * run-up to an onset); empty when the gate did not just open. Taken once.
     */
    @Override
    public short[][] takeWarmUp() {
        short[][] w = warmUp;
        warmUp = null;
        return w == null ? NO_FRAMES : w;
    }

    /** The model's answer for the frame {@link #gate} returned NaN for. */
    @Override
    public void modelAnswered(short[] frame, float p) {
        last = p;
        lastModelFrame = frame.clone();
    }

    @Override
    public SileroVad silero() {
        return silero;
    }

    static double rms(short[] frame) {
        double sum = 0;
        for (short s : frame) {
            sum += (double) s * s;
        }
        return Math.sqrt(sum / frame.length);
    }

    /** Frames seen. */
    public long frames() {
        return frames;
    }

    /** Frames the gate kept from the model. */
    public long skipped() {
        return skipped;
    }

    @Override
    public void reset() {
        silero.reset();
        warmUp = null;
        last = 0f;
        recentCount = 0;
        lastModelFrame = null;
    }

    @Override
    public String name() {
        return "silero+gate";
    }

    @Override
    public void close() {
        silero.close();
    }
}
