package dev.omnicall.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SampleEvents;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.stream.TranscriptionOptions;
import dev.omnicall.worker.engine.ConversationSnapshot;
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.OmniTurnEngine;
import dev.omnicall.worker.engine.StepOutput;
import dev.omnicall.worker.engine.TurnEngine;
import dev.omnicall.worker.engine.TurnInput;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 14 item 3's bound on the real engine (the tiny checkpoint's weights, pools on, prompt slices of 8 rows):
 * two turns speak, a newcomer arrives, and the scheduler and {@link OmniTurnEngine} run as in the worker. Counted,
 * not timed: the events of every loop (a slice of the newcomer's start, a decode step, which turns handed out an
 * audio chunk), then for each speaking turn the slices and steps between two of its consecutive chunks. With the
 * bound no gap holds more than one slice (each sized by the pacer to cost at most half a step); without it the same
 * arrival puts several slices into one gap. The newcomer's reply is the same either way.
 *
 * <p>The margin-aware bound runs on a clock the test drives (a fixed step per loop), so the speaking turns' playback
 * margins are counted too: audio out (from the engine's own outputs) minus the clock since each turn's first chunk.
 */
class ChunkedPrefillGapTest {
    private static final TopicPartition TP = new TopicPartition("turn-requests", 0);
    private static OmniTurnEngine engine;

    @BeforeAll
    static void load() {
        WorkerConfig config = WorkerConfig.defaults(KafkaSettings.of("127.0.0.1:9"), TinyModels.checkpointDir())
                .withEncoderPaddedSeconds(0).withLimits(48, Duration.ofSeconds(10), 64L << 20)
                .withTranscription(TranscriptionOptions.off());
        System.setProperty(OmniTurnEngine.PREFILL_SLICE_ROWS, "8");
        try {
            engine = OmniTurnEngine.load(config);
        } finally {
            System.clearProperty(OmniTurnEngine.PREFILL_SLICE_ROWS);
        }
    }

    @AfterAll
    static void close() {
        if (engine != null) {
            engine.close();
        }
    }

    /** The events of one run, in order: "slice:n", "step", "chunk:a"; and each turn's reply text. */
    private static final class Recording implements TurnEngine {
        final List<String> events = new ArrayList<>();
        final Map<EngineSession, String> calls = new IdentityHashMap<>();
        /** The scheduler's clock (epoch µs), advanced by the test between loops. */
        final long[] clock = {1_000_000_000_000L};
        /** Per speaking call: audio out (µs), the clock at its first chunk, slices since its last chunk. */
        final Map<String, long[]> speaking = new LinkedHashMap<>();
        /**
         * The margin (µs) of each speaking turn that already had a slice in its current gap when another slice ran:
         * the slices the margin-aware bound let through.
         */
        final List<Long> marginsAtExtraSlices = new ArrayList<>();

        private void slice(String callId) {
            events.add("slice:" + callId);
            for (long[] c : speaking.values()) {
                if (c[2] >= 1) {
                    marginsAtExtraSlices.add(c[0] - (clock[0] - c[1]));
                }
                c[2]++;
            }
        }

        @Override
        public EngineSession start(TurnInput input, ConversationSnapshot reuse) {
            throw new AssertionError("the scheduler starts turns with begin");
        }

        @Override
        public StartingSession begin(TurnInput input, ConversationSnapshot reuse) {
            slice(input.callId());
            StartingSession s = engine.begin(input, reuse);
            return new StartingSession() {
                @Override
                public boolean ready() {
                    return s.ready();
                }

                @Override
                public boolean advance() {
                    slice(input.callId());
                    return s.advance();
                }

                @Override
                public void finish() {
                    slice(input.callId());
                    s.finish();
                }

                @Override
                public EngineSession session() {
                    EngineSession session = s.session();
                    calls.put(session, input.callId());
                    return session;
                }

                @Override
                public void close() {
                    s.close();
                }
            };
        }

        @Override
        public List<StepOutput> step(List<EngineSession> batch) {
            return step(batch, true);
        }

        @Override
        public List<StepOutput> step(List<EngineSession> batch, boolean decoderMayRun) {
            events.add("step");
            List<StepOutput> outs = engine.step(batch, decoderMayRun);
            for (int i = 0; i < batch.size(); i++) {
                String call = calls.get(batch.get(i));
                if (outs.get(i).audio().stream().anyMatch(p -> p.pcm().length > 0)) {
                    events.add("chunk:" + call);
                    long[] c = speaking.computeIfAbsent(call, k -> new long[] {0, clock[0], 0});
                    c[2] = 0;
                }
                // audio out as the scheduler counts it
                for (StepOutput.AudioPiece p : outs.get(i).audio()) {
                    if (speaking.containsKey(call)) {
                        speaking.get(call)[0] += p.pcm().length / 2 * 1_000_000L / Math.max(1, p.sampleRate());
                    }
                }
                if (outs.get(i).done()) {
                    speaking.remove(call);
                }
            }
            return outs;
        }

        @Override
        public void close() {
            // the shared engine is closed once, after all tests
        }
    }

    /** One gap of a speaking turn: the slices and decode steps between two of its consecutive chunks. */
    private record Gap(String call, int slices, int steps) {
    }

    private record Run(List<Gap> gaps, String newcomerText, long deferred, int stepsToNewcomersAudio,
            List<String> events, List<Long> marginsAtExtraSlices) {
        int mostSlicesInAGap() {
            return gaps.stream().mapToInt(Gap::slices).max().orElse(0);
        }
    }

    private static Turn turn(String callId, long offset, double seconds, long seed) {
        float[] x = TinyModels.testAudio(seconds, seed);
        ByteBuffer pcm = ByteBuffer.allocate(2 * x.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : x) {
            pcm.putShort((short) Math.round(v * 32767));
        }
        pcm.flip();
        TurnRequest r = TurnRequest.newBuilder(SampleEvents.turnRequest(callId)).setTurnId(1).setAudio(pcm).build();
        return new Turn(r, TurnRequests.toInput(r), TP, offset, callId.getBytes(), new byte[0], 7);
    }

    /** Turns a and b speak; then the newcomer n (a longer utterance) arrives; all run to their end. */
    private static Run run(boolean bound) {
        return run(s -> s.setPrefillGapBound(bound), 0);
    }

    /**
     * The same arrival with the scheduler set up by {@code setup}, its clock advanced by {@code loopUs} before every
     * loop.
     */
    private static Run run(java.util.function.Consumer<TurnScheduler> setup, long loopUs) {
        Recording recording = new Recording();
        TurnSchedulerTest.Collected out = new TurnSchedulerTest.Collected();
        TurnScheduler s = new TurnScheduler(recording, new ConversationCache(0, new CountingWorkerMetrics()), 4, true,
                "w1", new CountingWorkerMetrics(), out, 2, TranscriptionOptions.DEFAULT_MAX_DELAY,
                () -> recording.clock[0]);
        setup.accept(s);
        s.submit(turn("a", 0, 1.0, 1));
        s.submit(turn("b", 1, 1.2, 2));
        for (int i = 0; i < 200 && (out.chunks("a").isEmpty() || out.chunks("b").isEmpty()); i++) {
            recording.clock[0] += loopUs;
            s.runOnce();
        }
        assertThat(out.chunks("a")).as("a speaks before the newcomer").isNotEmpty();
        assertThat(out.chunks("b")).as("b speaks before the newcomer").isNotEmpty();
        int arrival = recording.events.size();
        s.submit(turn("n", 2, 2.4, 3));
        for (int i = 0; i < 2000 && s.hasWork(); i++) {
            recording.clock[0] += loopUs;
            s.runOnce();
        }
        assertThat(out.finished).containsExactlyInAnyOrder("a/1:COMPLETED", "b/1:COMPLETED", "n/1:COMPLETED");
        StringBuilder text = new StringBuilder();
        out.texts.stream().filter(d -> d.getCallId().toString().equals("n")).forEach(d -> text.append(d.getText()));
        List<String> after = recording.events.subList(arrival, recording.events.size());
        int steps = (int) after.subList(0, after.indexOf("chunk:n")).stream().filter("step"::equals).count();
        return new Run(gaps(recording.events, arrival, List.of("a", "b")), text.toString(), s.prefillSlicesDeferred(),
                steps, List.copyOf(recording.events), List.copyOf(recording.marginsAtExtraSlices));
    }

    /** The gaps of the speaking turns that end after the newcomer's arrival (a gap open at arrival included). */
    private static List<Gap> gaps(List<String> events, int arrival, List<String> speaking) {
        List<Gap> gaps = new ArrayList<>();
        Map<String, int[]> open = new LinkedHashMap<>(); // call -> {slices, steps} since its last chunk
        for (int i = 0; i < events.size(); i++) {
            String e = events.get(i);
            if (e.startsWith("slice:")) {
                open.values().forEach(c -> c[0]++);
            } else if (e.equals("step")) {
                open.values().forEach(c -> c[1]++);
            } else if (e.startsWith("chunk:") && speaking.contains(e.substring(6))) {
                String call = e.substring(6);
                int[] c = open.put(call, new int[2]);
                if (c != null && i > arrival) {
                    gaps.add(new Gap(call, c[0], c[1]));
                }
            }
        }
        return gaps;
    }

    @Test
    void shouldPutAtMostOneSliceOfANewcomersStartIntoAnySpeakingTurnsChunkGap() {
        // Given the same arrival run without the bound (a slice every loop) and with it (the worker's default)
        Run unbounded = run(false);
        Run bounded = run(true);
        System.out.printf("chunked prefill, tiny model, 8-row slices: most slices in one chunk gap %d without the"
                + " bound (%d gaps), %d with it (%d gaps, %d loops deferred a slice); gaps with it (call, slices,"
                + " steps): %s; decode steps from arrival to the newcomer's first chunk %d without, %d with%n",
                unbounded.mostSlicesInAGap(), unbounded.gaps().size(), bounded.mostSlicesInAGap(), bounded.gaps().size(),
                bounded.deferred(), bounded.gaps(), unbounded.stepsToNewcomersAudio(), bounded.stepsToNewcomersAudio());
        // Then without the bound some gap holds several slices (so this arrival tests something)
        assertThat(unbounded.mostSlicesInAGap()).isGreaterThanOrEqualTo(2);
        // and with it no speaking turn's gap holds more than one, however many steps the gap spans
        assertThat(bounded.gaps()).isNotEmpty();
        assertThat(bounded.gaps()).allSatisfy(g -> assertThat(g.slices()).as("%s", g).isLessThanOrEqualTo(1));
        assertThat(bounded.deferred()).isPositive();
        // and the newcomer replies the same: the bound moves its slices, not its numbers
        assertThat(bounded.newcomerText()).isNotEmpty().isEqualTo(unbounded.newcomerText());
    }

    /** The mixed run's clock: this much time per loop, against this margin (tuned so both cases occur; counted). */
    private static final long MIXED_LOOP_US = 100_000;
    private static final Duration MIXED_MARGIN = Duration.ofMillis(300);

    @Test
    void shouldHoldANewcomersSliceBackOnlyWhileASpeakingTurnIsShortOfThePlaybackMargin() {
        // Given the arrival with the bound off and on (the clock stopped: it plays no part in either)
        Run off = run(false);
        Run on = run(true);
        // When the margin-aware bound runs with the clock stopped (every turn stays ahead by all its audio, > 1 ms)
        Run ahead = run(s -> s.setPrefillGapMargin(Duration.ofMillis(1)), 0);
        // and with 10 s passing each loop (every speaking turn far behind its playback)
        Run behind = run(s -> s.setPrefillGapMargin(Duration.ofMillis(1)), 10_000_000);
        // and with 100 ms a loop against a 300 ms margin (turns now ahead, now short)
        Run mixed = run(s -> s.setPrefillGapMargin(MIXED_MARGIN), MIXED_LOOP_US);
        System.out.printf("margin-aware chunked prefill: most slices in one gap, deferred loops, steps to the"
                + " newcomer's first chunk: off %d/%d/%d, on %d/%d/%d, all ahead %d/%d/%d, all short %d/%d/%d, mixed"
                + " %d/%d/%d (%d slices let into a non-empty gap, least margin then %d us)%n", off.mostSlicesInAGap(),
                off.deferred(), off.stepsToNewcomersAudio(), on.mostSlicesInAGap(), on.deferred(),
                on.stepsToNewcomersAudio(), ahead.mostSlicesInAGap(), ahead.deferred(), ahead.stepsToNewcomersAudio(),
                behind.mostSlicesInAGap(), behind.deferred(), behind.stepsToNewcomersAudio(), mixed.mostSlicesInAGap(),
                mixed.deferred(), mixed.stepsToNewcomersAudio(), mixed.marginsAtExtraSlices().size(),
                mixed.marginsAtExtraSlices().stream().mapToLong(Long::longValue).min().orElse(0));
        // Then with every turn ahead it never holds a slice back: loop for loop the run without the bound
        assertThat(ahead.deferred()).isZero();
        assertThat(ahead.events()).isEqualTo(off.events());
        // with every turn short it is the plain bound, loop for loop
        assertThat(behind.events()).isEqualTo(on.events());
        assertThat(behind.mostSlicesInAGap()).isLessThanOrEqualTo(1);
        // in between it lets a second slice into a turn's gap only while that turn is at least the margin ahead
        assertThat(mixed.marginsAtExtraSlices()).isNotEmpty()
                .allSatisfy(m -> assertThat(m).isGreaterThanOrEqualTo(MIXED_MARGIN.toNanos() / 1000));
        assertThat(mixed.mostSlicesInAGap()).isGreaterThanOrEqualTo(2);
        // and holds slices back while one is short
        assertThat(mixed.deferred()).isPositive();
        // and the newcomer replies the same in every run
        assertThat(List.of(on, ahead, behind, mixed)).allSatisfy(r -> assertThat(r.newcomerText())
                .isEqualTo(off.newcomerText()));
    }
}
