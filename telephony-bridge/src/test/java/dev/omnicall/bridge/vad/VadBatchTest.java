package dev.omnicall.bridge.vad;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Arrays;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The receive threads' batched Silero (energy gate in front, one ONNX Runtime run for the frames due from all calls)
 * against each call's own gated VAD run frame by frame (the per-call path, the reference). Stated tolerance: every
 * probability within 1e-4 of the reference, and no frame on another side of the segmenter's thresholds (speech
 * p ≥ 0.5, silence p < 0.35).
 */
class VadBatchTest {
    private static final float START = 0.5f;
    private static final float END = 0.35f;
    private static SileroModel model;
    private static SileroModel model8k;

    @BeforeAll
    static void load() throws Exception {
        model = SileroTestModel.loadOrSkip();
        model8k = SileroTestModel.loadOrSkip(SileroModel.RATE_8K);
    }

    @AfterAll
    static void close() {
        SileroTestModel.close(model);
        SileroTestModel.close(model8k);
    }

    /** A call as the batch sees it: its lock, its gated VAD, the frame it queued, the answers it got. */
    private static final class Call implements VadBatch.Member {
        final Lock lock = new ReentrantLock();
        final EnergyGatedVad vad;
        final float[] p;
        short[] queued;
        int queuedIndex;

        Call(int frames) {
            this(model, frames);
        }

        Call(SileroModel m, int frames) {
            vad = new EnergyGatedVad(m.newVad(), EnergyGatedVad.DEFAULT_GATE_DBFS);
            p = new float[frames];
        }

        @Override public Lock lock() { return lock; }
        @Override public BatchableVad vad() { return vad; }
        @Override public short[] frame() { return queued; }

        @Override
        public void answered(float probability) {
            vad.modelAnswered(queued, probability);
            p[queuedIndex] = probability;
            queued = null;
        }
    }

    /** 16000 or 8000: every call at that rate; 0: calls at both rates in one batch (one run per model). */
    @ParameterizedTest(name = "Silero at {0} Hz (0: both)")
    @ValueSource(ints = {16000, 8000, 0})
    void shouldDecideAsEachCallsOwnGatedVadWithinTheStatedTolerance(int rate) throws Exception {
        checkAgainstEachCallsOwnVad(rate, new VadBatch());
    }

    /**
     * A receive thread that sends the pacer's overdue ticks between Silero runs splits a turn's frames into runs of at
     * most maxBatch calls: the same answers, and the hook runs after every run of up to maxBatch calls.
     */
    @Test
    void shouldDecideTheSameInRunsOfAtMostMaxBatchCallsWithTheHookBetweenThem() throws Exception {
        java.util.concurrent.atomic.AtomicInteger between = new java.util.concurrent.atomic.AtomicInteger();
        VadBatch batch = new VadBatch(4, between::incrementAndGet);
        checkAgainstEachCallsOwnVad(8000, batch);
        assertThat(between.get()).as("hook calls: one per run of up to 4 calls (no warm-up round runs alone here)")
                .isGreaterThan(0).isLessThanOrEqualTo((int) batch.runs());
        assertThat((double) batch.frames() / batch.runs()).as("no run holds more than 4 calls").isLessThanOrEqualTo(4.0);
    }

    private static void checkAgainstEachCallsOwnVad(int rate, VadBatch batch) throws Exception {
        java.util.function.IntFunction<SileroModel> modelOf = k -> rate == 16000 || rate == 0 && k % 2 == 0 ? model : model8k;
        assumeTrue(Speech.toolsAvailable(), "espeak-ng and sox are needed");
        // Given six calls hearing different things: speech, line noise then speech, silence, speech after a pause,
        // noise only, speech with a pause in it
        short[] s1 = Speech.say("I would like to change my booking to Friday evening.", 16000);
        short[] s2 = Speech.say("Yes, please.", 16000);
        short[] s3 = Speech.say("Four people, at eight.", 16000);
        short[][] audio = {
                Speech.concat(s1, new short[16000], s2),
                Speech.concat(Speech.lineNoise(24000, 7), s2, new short[32000], s3),
                new short[s1.length + 40000],
                Speech.concat(new short[20000], s3, new short[16000], s1),
                Speech.lineNoise(s1.length + 30000, 11),
                Speech.concat(s3, new short[12000], Speech.lineNoise(8000, 3), s2, new short[8000], s3)};
        int calls = audio.length;
        int frames = Arrays.stream(audio).mapToInt(x -> x.length / Vad.FRAME_SAMPLES).min().orElseThrow();

        // When each runs alone on its own gated VAD (the per-call path)
        float[][] alone = new float[calls][frames];
        for (int k = 0; k < calls; k++) {
            EnergyGatedVad vad = new EnergyGatedVad(modelOf.apply(k).newVad(), EnergyGatedVad.DEFAULT_GATE_DBFS);
            for (int f = 0; f < frames; f++) {
                alone[k][f] = vad.speechProbability(frame(audio[k], f));
            }
        }
        // and all run through one VadBatch turn by turn, as a receive thread does: each call whose frame is due
        // gates it, the frames the gate lets through run together at the end of the turn; one call sits out every
        // third turn (its packet has not come yet)
        Call[] members = new Call[calls];
        for (int k = 0; k < calls; k++) {
            members[k] = new Call(modelOf.apply(k), frames);
        }
        int[] next = new int[calls];
        int turns = 0;
        while (Arrays.stream(next).anyMatch(n -> n < frames)) {
            int sitOut = turns % 3 == 2 ? turns % calls : -1;
            for (int k = 0; k < calls; k++) {
                if (next[k] >= frames || k == sitOut) {
                    continue;
                }
                Call c = members[k];
                short[] pcm = frame(audio[k], next[k]);
                float gated = c.vad.gate(pcm);
                if (Float.isNaN(gated)) {
                    c.queued = pcm;
                    c.queuedIndex = next[k];
                    batch.add(c);
                } else {
                    c.p[next[k]] = gated;
                }
                next[k]++;
            }
            batch.run();
            turns++;
        }

        // Then every probability is the call's own within 1e-4 and every decision is the same
        int changedSide = 0;
        float worst = 0;
        for (int k = 0; k < calls; k++) {
            for (int f = 0; f < frames; f++) {
                worst = Math.max(worst, Math.abs(alone[k][f] - members[k].p[f]));
                if (side(alone[k][f]) != side(members[k].p[f])) {
                    changedSide++;
                }
            }
        }
        double meanBatch = (double) batch.frames() / batch.runs();
        long skipped = Arrays.stream(members).mapToLong(c -> c.vad.skipped()).sum();
        System.out.printf("%d calls x %d frames: %d Silero runs of %d frames (mean batch %.2f), %d frames skipped by"
                + " the gate; largest difference %.2e, %d frames on another side%n", calls, frames, batch.runs(),
                batch.frames(), meanBatch, skipped, worst, changedSide);
        assertThat(worst).as("largest probability difference").isLessThanOrEqualTo(1e-4f);
        assertThat(changedSide).as("frames whose decision changed").isZero();
        // (with both rates, three calls share each model's runs)
        assertThat(meanBatch).as("frames per Silero run: calls really share runs").isGreaterThan(rate == 0 ? 1.2 : 1.5);
        assertThat(skipped).as("the gate kept silence and line noise from the model").isGreaterThan(frames);
    }

    @Test
    void shouldSkipAFrameDroppedAfterQueueingAndRunACallQueuedTwiceOnce() throws Exception {
        Call held = new Call(1);
        Call twice = new Call(1);
        short[] pcm = Speech.lineNoise(Vad.FRAME_SAMPLES, 5);
        for (int i = 0; i < pcm.length; i++) {
            pcm[i] = (short) (pcm[i] * 40); // loud enough for the gate to let it through
        }
        assertThat(held.vad.gate(pcm)).isNaN();
        assertThat(twice.vad.gate(pcm)).isNaN();
        held.queued = pcm;
        twice.queued = pcm;
        VadBatch batch = new VadBatch();
        batch.add(held);
        batch.add(twice);
        batch.add(twice);
        held.queued = null; // a hold dropped it
        batch.run();
        assertThat(batch.frames()).as("frames run").isEqualTo(1);
        assertThat(batch.runs()).isEqualTo(1);
        assertThat(twice.queued).as("answered").isNull();
        assertThat(batch.isEmpty()).isTrue();
    }

    private static int side(float p) {
        return p >= START ? 1 : p < END ? -1 : 0;
    }

    private static short[] frame(short[] pcm, int f) {
        return Arrays.copyOfRange(pcm, f * Vad.FRAME_SAMPLES, (f + 1) * Vad.FRAME_SAMPLES);
    }
}
