package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.NativeOpsTest;
import dev.omnicall.model.tools.NativeOps;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Flow + HiFT of several replies in one padded forward per stage ({@link SpeechStream#stepAll}) against the slow
 * obvious reference: each reply's stream alone, pushed and finished on the same schedule. Tiny flow with attention in
 * chunks (4 tokens / 8 frames) and a context of 8 units, so windows slide and chunk borders fall inside them; tiny
 * HiFT. Replies differ in speaker, units, chunk sizes and start step; one is cancelled mid-reply.
 */
class SpeechStreamBatchTest extends TinySpeechFixture {
    /** Mel and source through the batch move in the last float bits (measured 2.2e-6 and 1.2e-7). */
    static final double STAGE_TOLERANCE = 1e-5;
    /** f0 in Hz (measured 3.2e-5) and one decode from the same mel and source (measured 9.2e-5). */
    static final double F0_TOLERANCE = 1e-4;
    static final double DECODE_TOLERANCE = 2e-4;
    /**
     * Streamed audio: the tiny random HiFT amplifies f0's rounding through the phase and the voicing threshold (as in
     * SpeechStreamTest, where mels 1e-6 apart give audio 9.7e-3 apart), so the largest difference is bounded at 4e-2
     * and the rms difference at 1e-3 (measured 1.85e-2 and 2.9e-4 at most); a swapped row or a padding leak moves
     * whole chunks by far more.
     */
    static final double AUDIO_TOLERANCE = 4e-2;
    static final double AUDIO_RMS_TOLERANCE = 1e-3;
    private static final int CONTEXT = 8;

    SpeechStreamBatchTest() {
        super(StreamingFlowTest.CHUNKED_ENCODER, StreamingFlowTest.CHUNKED_ESTIMATOR);
    }

    /** A reply: its speaker, its pushes by step (null: nothing that step), and whether it finishes after them. */
    record Reply(float[] xvector, long[][] pushes, int startStep, boolean finishes) {
        int lastStep() {
            return startStep + pushes.length - 1;
        }
    }

    private static Reply reply(long seed, int startStep, boolean finishes, int... sizes) {
        SplittableRandom r = new SplittableRandom(seed);
        long[][] pushes = new long[sizes.length][];
        for (int i = 0; i < sizes.length; i++) {
            pushes[i] = r.longs(sizes[i], 0, 64).toArray();
        }
        return new Reply(StreamingFlowTest.gaussian(r, StreamingFlowTest.XVECTOR), pushes, startStep, finishes);
    }

    /** Audio of every step of every reply: [reply][step] → pushed | finished samples concatenated. */
    private List<List<float[]>> runBatched(List<Reply> replies) {
        return runBatched(replies, LengthGroups.single());
    }

    /** {@link #runBatched(List)} with each stage's rows cut into batches of similar length by {@code groups}. */
    private List<List<float[]>> runBatched(List<Reply> replies, LengthGroups groups) {
        List<SpeechStream> streams = new ArrayList<>();
        List<List<float[]>> audio = new ArrayList<>();
        for (Reply r : replies) {
            streams.add(new SpeechStream(flow, hift, manager, r.xvector(), CONTEXT));
            audio.add(new ArrayList<>());
        }
        int end = replies.stream().mapToInt(Reply::lastStep).max().orElseThrow();
        for (int step = 0; step <= end; step++) {
            List<SpeechStream> due = new ArrayList<>();
            List<long[]> units = new ArrayList<>();
            List<Boolean> finish = new ArrayList<>();
            List<Integer> which = new ArrayList<>();
            for (int i = 0; i < replies.size(); i++) {
                Reply r = replies.get(i);
                if (step >= r.startStep() && step <= r.lastStep()) {
                    long[] push = r.pushes()[step - r.startStep()];
                    due.add(streams.get(i));
                    units.add(push == null ? new long[0] : push);
                    finish.add(r.finishes() && step == r.lastStep());
                    which.add(i);
                }
            }
            boolean[] finishes = new boolean[finish.size()];
            for (int j = 0; j < finishes.length; j++) {
                finishes[j] = finish.get(j);
            }
            List<SpeechStream.StepAudio> out = SpeechStream.stepAll(due, units, finishes, groups);
            for (int j = 0; j < out.size(); j++) {
                audio.get(which.get(j)).add(concat(out.get(j).pushed(), out.get(j).finished()));
            }
        }
        return audio;
    }

    /** The reference: the reply's stream alone, push then finish per step. */
    private List<float[]> runAlone(Reply r) {
        SpeechStream s = new SpeechStream(flow, hift, manager, r.xvector(), CONTEXT);
        List<float[]> audio = new ArrayList<>();
        for (int k = 0; k < r.pushes().length; k++) {
            long[] push = r.pushes()[k];
            float[] pushed = push == null || push.length == 0 ? new float[0] : s.push(push);
            float[] finished = r.finishes() && k == r.pushes().length - 1 ? s.finish() : new float[0];
            audio.add(concat(pushed, finished));
        }
        return audio;
    }

    @Test
    void shouldGiveEachReplyTheAudioItsStreamGivesAloneWhenRepliesDifferInChunksStartsAndEnds() {
        // Given four replies of their own speakers (the scenario)
        List<Reply> replies = scenario();
        // When their steps run batched, and each alone
        List<List<float[]>> batched = runBatched(replies);
        // Then every step of every reply is its audio alone
        assertSameAudioAsAlone(replies, batched);
    }

    /** Short and long rows in the same steps: three replies pushing 5 units a step, two pushing 40. */
    private static List<Reply> mixedLengths() {
        return List.of(reply(51, 0, true, 5, 5, 5, 5), reply(52, 0, true, 40, 40, 40, 3),
                reply(53, 0, true, 5, 5, 5, 5, 5), reply(54, 1, true, 40, 40, 2), reply(55, 1, true, 5, 5, 5));
    }

    @Test
    void shouldGiveEachReplyItsAudioAloneWhenShortAndLongRowsRunInBatchesOfSimilarLength() {
        // Given replies pushing 5 and 40 units in the same steps (flow windows of up to 32 and 102 frames, HiFT
        // chunks of 18 and 88: one padded batch would be about half padding)
        List<Reply> replies = mixedLengths();
        // When their steps run in batches of similar length (the engine's default), and each alone
        List<List<float[]>> grouped = runBatched(replies, LengthGroups.defaults());
        // Then every step of every reply is its audio alone, as the single padded forward's is
        assertSameAudioAsAlone(replies, grouped);
        assertSameAudioAsAlone(replies, runBatched(replies, LengthGroups.single()));
    }

    /** Native ops of one step of the mixed replies at their second push, in the given batches. */
    private long mixedStepOps(LengthGroups groups) {
        List<Reply> replies = mixedLengths().subList(0, 3);
        List<SpeechStream> streams = new ArrayList<>();
        List<long[]> units = new ArrayList<>();
        for (Reply r : replies) {
            SpeechStream s = new SpeechStream(flow, hift, manager, r.xvector(), CONTEXT);
            s.push(r.pushes()[0]);
            streams.add(s);
            units.add(r.pushes()[1]);
        }
        return NativeOps.count(() -> SpeechStream.stepAll(streams, units, new boolean[replies.size()], groups));
    }

    @Test
    void shouldRunAMixedStepInTwoBatchesPerStageAndAnEvenStepInOne() {
        // Given two short rows and a long one in one step
        // When they run grouped and as one padded batch
        long single = mixedStepOps(LengthGroups.single());
        long grouped = mixedStepOps(LengthGroups.defaults());
        // Then grouped makes about twice the native calls (each stage once per batch: short rows, the long one)
        System.out.printf("mixed step native ops: one batch %d, grouped %d%n", single, grouped);
        assertThat(grouped).isBetween(single * 17 / 10, single * 23 / 10);
        // And rows of one length (the 6 streams of the ops test) stay one batch: as many calls as the single forward
        assertThat(speechStepOps(6, true, LengthGroups.defaults())).isEqualTo(speechStepOps(6, true));
    }

    private void assertSameAudioAsAlone(List<Reply> replies, List<List<float[]>> batched) {
        for (int i = 0; i < replies.size(); i++) {
            List<float[]> alone = runAlone(replies.get(i));
            // Then every step gives the same number of samples and the same audio within the tolerance
            assertThat(batched.get(i)).hasSameSizeAs(alone);
            double max = 0;
            double squares = 0;
            double energy = 0;
            long samples = 0;
            for (int k = 0; k < alone.size(); k++) {
                float[] a = batched.get(i).get(k);
                float[] b = alone.get(k);
                assertThat(a).as("reply %d step %d", i, k).hasSameSizeAs(b);
                max = Math.max(max, HiftVocoderTest.maxAbsDiff(a, b));
                for (int j = 0; j < a.length; j++) {
                    squares += (a[j] - b[j]) * (double) (a[j] - b[j]);
                    energy += b[j] * (double) b[j];
                }
                samples += b.length;
            }
            double rms = Math.sqrt(squares / samples);
            System.out.printf("reply %d: %d samples (rms %.3f), batched vs alone: max difference %.2e, rms %.2e%n", i,
                    samples, Math.sqrt(energy / samples), max, rms);
            assertThat(samples).isPositive();
            assertThat(max).as("reply %d's audio", i).isLessThanOrEqualTo(AUDIO_TOLERANCE);
            assertThat(rms).as("reply %d's audio, rms", i).isLessThanOrEqualTo(AUDIO_RMS_TOLERANCE);
        }
    }


    /** The replies of the scenario tests: speakers, pushes (0: a step that wrote nothing), starts, ends. */
    private static List<Reply> scenario() {
        // a steady W 10 from step 0; uneven pushes from step 1 with a step that writes nothing; small pushes from
        // step 2 (HiFT waits for 8 frames some steps); one cancelled after its second push (never finished)
        return List.of(reply(1, 0, true, 10, 10, 10, 7), reply(2, 1, true, 3, 13, 0, 10, 1),
                reply(3, 2, true, 2, 1, 4, 2), reply(4, 0, false, 10, 10));
    }

    @Test
    void shouldGiveEachReplyTheMelAndTheAudioOfItsStagesAloneStepByStep() {
        // Given the scenario's replies, their flows and vocoders batched and each alone
        List<Reply> replies = scenario();
        List<StreamingFlow> flows = new ArrayList<>();
        List<StreamingFlow> aloneFlows = new ArrayList<>();
        List<StreamingHift> hifts = new ArrayList<>();
        List<StreamingHift> aloneHifts = new ArrayList<>();
        for (Reply r : replies) {
            flows.add(new StreamingFlow(flow, manager, r.xvector(), CONTEXT));
            aloneFlows.add(new StreamingFlow(flow, manager, r.xvector(), CONTEXT));
            hifts.add(new StreamingHift(hift, manager));
            aloneHifts.add(new StreamingHift(hift, manager));
        }
        double melMax = 0;
        double audioMax = 0;
        double squares = 0;
        long samples = 0;
        int end = replies.stream().mapToInt(Reply::lastStep).max().orElseThrow();
        for (int step = 0; step <= end; step++) {
            // When each step's pushes (then finishes) run batched, and alone
            List<Integer> pushing = new ArrayList<>();
            List<Integer> finishing = new ArrayList<>();
            List<long[]> units = new ArrayList<>();
            for (int i = 0; i < replies.size(); i++) {
                Reply r = replies.get(i);
                if (step >= r.startStep() && step <= r.lastStep()) {
                    long[] push = r.pushes()[step - r.startStep()];
                    if (push.length > 0) {
                        pushing.add(i);
                        units.add(push);
                    }
                    if (r.finishes() && step == r.lastStep()) {
                        finishing.add(i);
                    }
                }
            }
            List<float[]> mels = StreamingFlow.pushAll(pushing.stream().map(flows::get).toList(), units);
            List<float[]> finalMels = StreamingFlow.finishAll(finishing.stream().map(flows::get).toList());
            List<float[]> aloneMels = new ArrayList<>();
            for (int j = 0; j < pushing.size(); j++) {
                aloneMels.add(aloneFlows.get(pushing.get(j)).push(units.get(j)));
                // Then the mel of every push is the flow's alone
                assertThat(mels.get(j)).hasSameSizeAs(aloneMels.get(j));
                melMax = Math.max(melMax, HiftVocoderTest.maxAbsDiff(mels.get(j), aloneMels.get(j)));
            }
            List<float[]> aloneFinalMels = new ArrayList<>();
            for (int j = 0; j < finishing.size(); j++) {
                aloneFinalMels.add(aloneFlows.get(finishing.get(j)).finish());
                melMax = Math.max(melMax, HiftVocoderTest.maxAbsDiff(finalMels.get(j), aloneFinalMels.get(j)));
            }
            // and HiFT over the same mels gives each reply's audio alone
            List<float[]> audio = StreamingHift.pushAll(pushing.stream().map(hifts::get).toList(), aloneMels);
            for (int j = 0; j < pushing.size(); j++) {
                StreamingHift h = aloneHifts.get(pushing.get(j));
                float[] alone = h.push(aloneMels.get(j), aloneMels.get(j).length / 80);
                assertThat(audio.get(j)).hasSameSizeAs(alone);
                audioMax = Math.max(audioMax, HiftVocoderTest.maxAbsDiff(audio.get(j), alone));
                squares += squaredDiff(audio.get(j), alone);
                samples += alone.length;
            }
            List<float[]> finalAudio = StreamingHift.finishAll(finishing.stream().map(hifts::get).toList(),
                    aloneFinalMels);
            for (int j = 0; j < finishing.size(); j++) {
                StreamingHift h = aloneHifts.get(finishing.get(j));
                float[] alone = h.finish(aloneFinalMels.get(j), aloneFinalMels.get(j).length / 80);
                assertThat(finalAudio.get(j)).hasSameSizeAs(alone);
                audioMax = Math.max(audioMax, HiftVocoderTest.maxAbsDiff(finalAudio.get(j), alone));
                squares += squaredDiff(finalAudio.get(j), alone);
                samples += alone.length;
            }
        }
        double rms = Math.sqrt(squares / samples);
        System.out.printf("stages batched vs alone: mel max difference %.2e, audio (same mels) max %.2e rms %.2e%n",
                melMax, audioMax, rms);
        assertThat(melMax).isLessThanOrEqualTo(STAGE_TOLERANCE);
        assertThat(audioMax).isLessThanOrEqualTo(AUDIO_TOLERANCE);
        assertThat(rms).isLessThanOrEqualTo(AUDIO_RMS_TOLERANCE);
    }

    /** Native ops of one step of b streams at their second push (10 units each), batched or one by one. */
    private long speechStepOps(int b, boolean batched) {
        return speechStepOps(b, batched, LengthGroups.single());
    }

    private long speechStepOps(int b, boolean batched, LengthGroups groups) {
        List<SpeechStream> streams = new ArrayList<>();
        List<long[]> units = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            Reply r = reply(40 + i, 0, false, 10, 10);
            SpeechStream s = new SpeechStream(flow, hift, manager, r.xvector(), CONTEXT);
            s.push(r.pushes()[0]);
            streams.add(s);
            units.add(r.pushes()[1]);
        }
        return NativeOps.count(() -> {
            if (batched) {
                SpeechStream.stepAll(streams, units, new boolean[b], groups);
            } else {
                for (int i = 0; i < b; i++) {
                    streams.get(i).push(units.get(i));
                }
            }
        });
    }

    @Test
    void shouldIssueAsManyNativeOpsForTheSpeechOfSixStreamsAsForTwo() {
        // Given streams past their first push, When one step pushes 10 units into 2 and into 6 of them
        NativeOps.Growth ops = NativeOps.Growth.of(2, 6, this::speechStepOps);
        // Then the batched step makes as many native calls for 6 as for 2; one by one, hundreds more per stream
        NativeOpsTest.assertFlatWhenShared(ops, 4L * 100);
    }

    @Test
    void shouldGiveEachPaddedRowOfTheEncoderAndTheSolverWhatItGivesAlone() {
        try (NDManager scope = manager.newSubManager()) {
            // Given windows of 5, 21 and 13 units at tokens 0, 17 and 6 of their replies (chunks of 4 tokens)
            List<long[]> windows = List.of(StreamingFlowTest.units(5, 31), StreamingFlowTest.units(21, 32),
                    StreamingFlowTest.units(13, 33));
            long[] firsts = {0, 17, 6};
            // When the encoder runs them padded in one batch
            NDArray all = flow.encoder().forwardAll(scope, windows, firsts);
            // Then each row's frames are the window's alone
            for (int r = 0; r < windows.size(); r++) {
                NDArray alone = flow.encoder().forward(scope, windows.get(r), firsts[r]);
                NDArray row = all.get(new NDIndex("{}, :, :{}", r, 2 * windows.get(r).length));
                assertThat((double) HiftVocoderTest.maxAbsDiff(row.toFloatArray(), alone.toFloatArray())).as("encoder row %d", r)
                        .isLessThanOrEqualTo(STAGE_TOLERANCE);
            }
            // And the Euler steps over the three rows (mu of 10, 42 and 26 frames) are each row's alone
            int[] frames = {10, 42, 26};
            long[] firstFrames = {0, 34, 12};
            List<float[]> xvectors = List.of(StreamingFlowTest.gaussian(new SplittableRandom(1), 192),
                    StreamingFlowTest.gaussian(new SplittableRandom(2), 192),
                    StreamingFlowTest.gaussian(new SplittableRandom(3), 192));
            NDArray mel = flow.solveAll(all, flow.speakers(scope, xvectors),
                    flow.noiseAll(scope, firstFrames, frames, 42), firstFrames, frames);
            for (int r = 0; r < 3; r++) {
                NDArray mu = all.get(new NDIndex("{}, :, :{}", r, frames[r]));
                NDArray alone = flow.solve(mu, flow.speaker(scope, xvectors.get(r)),
                        flow.noise(scope, firstFrames[r], frames[r]), firstFrames[r]);
                NDArray row = mel.get(new NDIndex("{}, :, :{}", r, frames[r]));
                assertThat((double) HiftVocoderTest.maxAbsDiff(row.toFloatArray(), alone.toFloatArray())).as("mel row %d", r)
                        .isLessThanOrEqualTo(STAGE_TOLERANCE);
            }
        }
    }

    @Test
    void shouldGiveEachPaddedRowOfHiftWhatItGivesAlone() {
        try (NDManager scope = manager.newSubManager()) {
            // Given mels of 9, 28 and 16 frames
            SplittableRandom random = new SplittableRandom(5);
            int[] frames = {9, 28, 16};
            List<float[]> mels = new ArrayList<>();
            for (int f : frames) {
                float[] m = StreamingFlowTest.gaussian(random, 80 * f);
                for (int i = 0; i < m.length; i++) {
                    m[i] = m[i] * 2 - 5; // log-mel-like
                }
                mels.add(m);
            }
            // When f0, source and decode run padded
            float[] f0 = hift.predictF0All(scope, mels, frames).toFloatArray();
            List<float[]> f0s = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                float[] alone = hift.predictF0(scope.create(mels.get(r), new Shape(80, frames[r])))
                        .toFloatArray();
                float[] row = Arrays.copyOfRange(f0, r * 28, r * 28 + frames[r]);
                // Then each row's f0 is its own alone
                assertThat((double) HiftVocoderTest.maxAbsDiff(row, alone)).as("f0 row %d", r).isLessThanOrEqualTo(F0_TOLERANCE);
                f0s.add(alone);
            }
            long[] firstSamples = {0, 4800, 96000};
            List<double[]> phases = List.of(new double[9], new double[] {.1, .2, .3, .4, .5, .6, .7, .8, .9},
                    new double[] {.9, .8, .7, .6, .5, .4, .3, .2, .1});
            float[][] sources = hift.sourceAll(scope, f0s, firstSamples, phases);
            List<float[]> sourceList = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                float[] alone = hift.source(scope.create(f0s.get(r)), firstSamples[r], phases.get(r).clone())
                        .toFloatArray();
                assertThat((double) HiftVocoderTest.maxAbsDiff(sources[r], alone)).as("source row %d", r).isLessThanOrEqualTo(STAGE_TOLERANCE);
                sourceList.add(alone);
            }
            float[][] audio = hift.decodeAll(scope, mels, sourceList, frames);
            for (int r = 0; r < 3; r++) {
                float[] alone = hift.decode(scope.create(mels.get(r), new Shape(80, frames[r])),
                        scope.create(sourceList.get(r))).toFloatArray();
                assertThat(audio[r]).hasSameSizeAs(alone);
                assertThat((double) HiftVocoderTest.maxAbsDiff(audio[r], alone)).as("audio row %d", r).isLessThanOrEqualTo(DECODE_TOLERANCE);
            }
        }
    }

    private static double squaredDiff(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (a[i] - b[i]) * (double) (a[i] - b[i]);
        }
        return s;
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
