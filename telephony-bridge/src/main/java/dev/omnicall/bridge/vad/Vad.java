package dev.omnicall.bridge.vad;

/**
 * Voice activity detection on 16 kHz mono PCM, one fixed-size frame at a time. Implementations keep
 * per-stream state (Silero's recurrent state, the energy VAD's noise floor): use one instance per call
 * and one thread at a time.
 */
public interface Vad extends AutoCloseable {

    int SAMPLE_RATE = 16_000;
    /** 512 samples = 32 ms, the window Silero VAD v5 was trained on at 16 kHz. */
    int FRAME_SAMPLES = 512;
    long FRAME_MICROS = FRAME_SAMPLES * 1_000_000L / SAMPLE_RATE;

    /** Probability 0..1 that {@code frame} ({@link #FRAME_SAMPLES} samples) holds speech. */
    float speechProbability(short[] frame);

    /** Forgets the stream's state, e.g. after hold. */
    void reset();

    /** "silero" or "energy", for logs and metrics. */
    String name();

    @Override
    void close();
}
