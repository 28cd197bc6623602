package dev.omnicall.bridge.vad;

/**
 * The fallback VAD: frame energy against a tracked noise floor. The floor falls at once to a quieter
 * frame and rises slowly (about 3 dB per second) so that sustained speech does not become "noise". The
 * probability is a logistic function of how far the frame is above the floor plus a margin. It cannot
 * tell speech from other loud sounds; {@link SileroVad} can.
 */
public final class EnergyVad implements Vad {
    private static final double FLOOR_MIN_DBFS = -70;
    private static final double FLOOR_RISE_DB_PER_FRAME = 0.1;
    private static final double MARGIN_DB = 12;
    private static final double SLOPE_DB = 2.5;
    /** Below this a frame is silence whatever the floor says (digital silence, line noise). */
    private static final double ABSOLUTE_SILENCE_DBFS = -55;

    private double noiseFloorDbfs = -60;

    @Override
    public float speechProbability(short[] frame) {
        double level = levelDbfs(frame);
        if (level < noiseFloorDbfs) {
            noiseFloorDbfs = Math.max(level, FLOOR_MIN_DBFS);
        } else {
            noiseFloorDbfs += FLOOR_RISE_DB_PER_FRAME;
        }
        if (level < ABSOLUTE_SILENCE_DBFS) {
            return 0f;
        }
        double above = level - (noiseFloorDbfs + MARGIN_DB);
        return (float) (1.0 / (1.0 + Math.exp(-above / SLOPE_DB)));
    }

    /** RMS level in dB relative to a full-scale square wave. */
    static double levelDbfs(short[] frame) {
        double sumSquares = 0;
        for (short s : frame) {
            sumSquares += (double) s * s;
        }
        double rms = Math.sqrt(sumSquares / Math.max(1, frame.length));
        return 20 * Math.log10(Math.max(rms, 1e-3) / 32768.0);
    }

    @Override
    public void reset() {
        noiseFloorDbfs = -60;
    }

    @Override
    public String name() {
        return "energy";
    }

    @Override
    public void close() {
    }
}
