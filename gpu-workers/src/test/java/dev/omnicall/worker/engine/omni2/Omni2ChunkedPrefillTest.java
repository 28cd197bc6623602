package dev.omnicall.worker.engine.omni2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.model.Closeness;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.OmniTurnEngine;
import dev.omnicall.worker.engine.StepOutput;
import dev.omnicall.worker.engine.TurnEngine;
import dev.omnicall.worker.engine.TurnInput;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * LLaMA-Omni2's chunked prefill ({@link Omni2TurnEngine#begin}: the encoder in slices, then the prompt rows in slices
 * apart or riding in the speaking turns' LLM forward) against the slow obvious reference, the one-shot start
 * ({@link Omni2TurnEngine#start}, {@link Omni2Session#prefillAtOnce}): the same prompt, the first logits within 1e-5
 * of their scale, and for a newcomer arriving while 1-3 other turns speak, every turn's text tokens and units equal
 * to it alone (one-shot, no pools) and its audio within Omni2BatchedEngineTest's bound. Tiny checkpoint.
 */
class Omni2ChunkedPrefillTest extends TinyOmni2Fixture {
    private static final double AUDIO_TOLERANCE = 16.0 / 32767;
    private static final double LOGIT_SCALE_TOLERANCE = 1e-5;
    private static final TtsSchedule SCHEDULE = new TtsSchedule(3, 10, 40);

    /** The engine built under the slicing settings given (the engine reads them when built). */
    private static <T> T withSlicing(String rows, String fused, Supplier<T> body) {
        System.setProperty(OmniTurnEngine.PREFILL_SLICE_ROWS, rows);
        System.setProperty(OmniTurnEngine.FUSED_PREFILL, fused);
        try {
            return body.get();
        } finally {
            System.clearProperty(OmniTurnEngine.PREFILL_SLICE_ROWS);
            System.clearProperty(OmniTurnEngine.FUSED_PREFILL);
        }
    }

    /** A turn whose call has one earlier caller turn with its audio carried: two speeches to encode. */
    private static TurnInput withHistory(String call, long seed) {
        return new TurnInput(call, pcm(0.9, seed), List.of(new TurnInput.PastTurn(1, null, pcm(1.1, seed + 1),
                "Tix")));
    }

    @Test
    void shouldGiveTheOneShotPromptAndFirstLogitsWhenStartedInSlicesOfFewRows() {
        // Given turns with one and with two speeches to encode, an engine slicing 5 prompt rows apart (the encoder a
        // block per slice) and one slicing at the pacer's rows
        for (String rows : List.of("5", "auto")) {
            for (TurnInput input : List.of(turn("a", 1.3, 31), withHistory("b", 32))) {
                try (KvPool llm = model.llm().newPool(2, 256); KvPool tts = model.tts().newPool(2, 128)) {
                    Omni2TurnEngine engine = withSlicing(rows, "off", () -> new Omni2TurnEngine(model,
                            options(SCHEDULE), new Omni2TurnEngine.Pools(llm, tts)));
                    // When the newcomer starts slice by slice, and again at once
                    int advances = 0;
                    Omni2Session sliced;
                    try (TurnEngine.StartingSession starting = engine.begin(input, null)) {
                        while (!starting.advance()) {
                            advances++;
                        }
                        sliced = (Omni2Session) starting.session();
                    }
                    try (sliced; Omni2Session once = (Omni2Session) engine.start(input, null)) {
                        // Then the same prompt and first token, the logits to float rounding, in several slices
                        System.out.printf("rows %s, %d speech(es): %d advances, %d prompt positions%n", rows,
                                sliced.speechEncoded(), advances, sliced.promptKeys().length);
                        assertThat(advances).isGreaterThan(sliced.promptKeys().length / 64 + 2);
                        assertThat(sliced.promptKeys()).isEqualTo(once.promptKeys());
                        assertThat(sliced.speechEncoded()).isEqualTo(once.speechEncoded());
                        Closeness.assertWithinScale(sliced.firstLogits(), once.firstLogits(), LOGIT_SCALE_TOLERANCE,
                                "first logits, " + rows + " rows");
                        assertThat(Omni2Session.argmax(sliced.firstLogits()))
                                .isEqualTo(Omni2Session.argmax(once.firstLogits()));
                    }
                    assertThat(llm.running()).isZero();
                }
            }
        }
    }

    /** What a turn produced: text tokens, units, 24 kHz PCM, the steps it ran. */
    record Result(List<Long> tokens, List<Integer> units, byte[] pcm, int steps) {
    }

    /** A newcomer's start in a scenario: its loops, the steps that carried its rows, the loops others spoke in. */
    record Start(int loops, int fusedSteps, int stepsWithOthers) {
    }

    /** The k-th speaking turn of a scenario (the same inputs in every mode, so each is run alone once). */
    private static TurnInput speaker(int k) {
        return k == 2 ? withHistory("s2", 102) : turn("s" + k, 0.7 + 0.1 * (k % 7), 100 + k);
    }

    /**
     * {@code speakers} turns speaking from steps 0, 1, 2... (a reply of the tiny checkpoint lasts 4 steps: each that
     * ends is followed by the next speaker the step after, until the newcomer is in); the newcomer begun at step 1 and
     * advanced once before every step (the scheduler's order), joining the batch when ready; all stepped to their
     * ends. {@code inputs} and {@code results}: every turn's, in the order they started.
     */
    private Start runWithNewcomer(Omni2TurnEngine engine, int speakers, TurnInput newcomer, List<TurnInput> inputs,
            List<Result> results) {
        List<Omni2Session> sessions = new ArrayList<>();
        List<ByteArrayOutputStream> audio = new ArrayList<>();
        List<Integer> steps = new ArrayList<>();
        TurnEngine.StartingSession starting = null;
        int started = 0;
        int loops = 0;
        int fused = 0;
        int withOthers = 0;
        boolean newcomerIn = false;
        for (int step = 0; step < 400; step++) {
            // a speaker for every slot that has none speaking, while the newcomer starts (at most one a step)
            long speaking = sessions.stream().filter(x -> !x.done()).count() - (newcomerIn ? 1 : 0);
            if (!newcomerIn && speaking < Math.min(speakers, step + 1)) {
                TurnInput in = speaker(started++);
                inputs.add(in);
                sessions.add((Omni2Session) engine.start(in, null));
                audio.add(new ByteArrayOutputStream());
                steps.add(0);
            }
            if (step == 1) {
                starting = engine.begin(newcomer, null);
                loops++;
            } else if (starting != null && !newcomerIn) {
                loops++;
                if (starting.advance()) {
                    inputs.add(newcomer);
                    sessions.add((Omni2Session) starting.session());
                    audio.add(new ByteArrayOutputStream());
                    steps.add(0);
                    starting.close();
                    newcomerIn = true;
                }
            }
            List<EngineSession> batch = new ArrayList<>();
            List<Integer> which = new ArrayList<>();
            for (int i = 0; i < sessions.size(); i++) {
                if (!sessions.get(i).done()) {
                    batch.add(sessions.get(i));
                    which.add(i);
                }
            }
            if (batch.isEmpty() && newcomerIn) {
                break;
            }
            if (starting != null && !newcomerIn) {
                withOthers++;
            }
            List<StepOutput> out = engine.step(batch);
            fused += engine.lastFusedRows() > 0 ? 1 : 0;
            for (int j = 0; j < out.size(); j++) {
                int i = which.get(j);
                steps.set(i, steps.get(i) + 1);
                out.get(j).audio().forEach(p -> audio.get(i).writeBytes(p.pcm()));
            }
        }
        assertThat(newcomerIn).as("the newcomer started").isTrue();
        for (int i = 0; i < sessions.size(); i++) {
            Omni2Session s = sessions.get(i);
            assertThat(s.done()).isTrue();
            results.add(new Result(s.tokens(), s.units(), audio.get(i).toByteArray(), steps.get(i)));
            s.close();
        }
        return new Start(loops, fused, withOthers);
    }

    private final java.util.Map<TurnInput, Result> aloneResults = new java.util.HashMap<>();

    /** The reference: the turn alone, started at once on an engine without pools, stepped one token at a time. */
    private Result alone(TurnInput input) {
        return aloneResults.computeIfAbsent(input, this::runAlone);
    }

    private Result runAlone(TurnInput input) {
        Omni2TurnEngine engine = withSlicing("0", "off", () -> new Omni2TurnEngine(model, options(SCHEDULE)));
        ByteArrayOutputStream audio = new ByteArrayOutputStream();
        try (Omni2Session s = (Omni2Session) engine.start(input, null)) {
            int steps = 0;
            while (!s.done()) {
                s.step().audio().forEach(p -> audio.writeBytes(p.pcm()));
                steps++;
            }
            return new Result(s.tokens(), s.units(), audio.toByteArray(), steps);
        }
    }

    @Test
    void shouldGiveEveryTurnItsReplyAloneWhenANewcomerStartsInSlicesWhileOneToThreeOthersSpeak() {
        TurnInput newcomer = turn("n", 1.4, 44);
        // Given 1, 2 or 3 turns speaking and a newcomer, its rows riding in the steps (8 a step, or paced) or apart
        for (int speakers = 1; speakers <= 3; speakers++) {
            for (String[] mode : List.of(new String[] {"8", "on"}, new String[] {"auto", "on"},
                    new String[] {"8", "off"})) {
                List<TurnInput> inputs = new ArrayList<>();
                List<Result> results = new ArrayList<>();
                Start start;
                try (KvPool llm = model.llm().newPool(speakers + 2, 256);
                        KvPool tts = model.tts().newPool(speakers + 2, 128)) {
                    int n = speakers;
                    Omni2TurnEngine engine = withSlicing(mode[0], mode[1], () -> new Omni2TurnEngine(model,
                            options(SCHEDULE), new Omni2TurnEngine.Pools(llm, tts)));
                    // When they run together
                    start = runWithNewcomer(engine, n, newcomer, inputs, results);
                    assertThat(llm.running()).isZero();
                    assertThat(tts.running()).isZero();
                }
                System.out.printf("%d speaking, rows %s fused %s: newcomer's start %d loops, %d with others speaking,"
                        + " %d steps carried its rows; %d turns%n", speakers, mode[0], mode[1], start.loops(),
                        start.stepsWithOthers(), start.fusedSteps(), inputs.size());
                // Then the newcomer started in several loops, others speaking in every step of them, its rows riding when fused
                assertThat(start.loops()).isGreaterThan(3);
                assertThat(start.stepsWithOthers()).isEqualTo(start.loops() - 1); // it joins the last loop's step
                if (mode[1].equals("on")) {
                    assertThat(start.fusedSteps()).isGreaterThan(1);
                } else {
                    assertThat(start.fusedSteps()).isZero();
                }
                // And every turn, the newcomer's included, is what it is alone (one-shot start, no pools)
                for (int i = 0; i < inputs.size(); i++) {
                    Result got = results.get(i);
                    Result ref = alone(inputs.get(i));
                    String who = inputs.get(i).callId();
                    assertThat(got.tokens()).as("%s's text tokens", who).isEqualTo(ref.tokens()).isNotEmpty();
                    assertThat(got.units()).as("%s's units", who).isEqualTo(ref.units()).isNotEmpty();
                    double diff = Omni2BatchedEngineTest.maxAudioDifference(got.pcm(), ref.pcm());
                    assertThat(diff).as("%s's audio", who).isLessThanOrEqualTo(AUDIO_TOLERANCE);
                }
            }
        }
    }

    @Test
    void shouldFreeTheSlotOfAStartCancelledMidEncoderOrMidPrompt() {
        // Given a pool of 2 LLM slots
        try (KvPool llm = model.llm().newPool(2, 256); KvPool tts = model.tts().newPool(2, 128)) {
            Omni2TurnEngine engine = withSlicing("8", "on", () -> new Omni2TurnEngine(model, options(SCHEDULE),
                    new Omni2TurnEngine.Pools(llm, tts)));
            // When a newcomer is cancelled after 1 advance (its encoder's first block) or after 3 (8 prompt rows rode in
            // the speaking turn's step), a turn speaking beside it
            for (int advances : new int[] {1, 3}) {
                Omni2Session speaking = (Omni2Session) engine.start(turn("a", 1.0, 51), null);
                TurnEngine.StartingSession starting = engine.begin(turn("n", 1.4, 52), null);
                assertThat(llm.running()).isEqualTo(2);
                int fusedRows = 0;
                for (int i = 0; i < advances; i++) {
                    assertThat(starting.advance()).isFalse();
                    engine.step(List.of(speaking));
                    fusedRows += engine.lastFusedRows();
                }
                assertThat(fusedRows).isEqualTo(advances == 3 ? 8 : 0);
                starting.close();
                // Then its slot is free again, and the next step carries no rows of it
                assertThat(llm.running()).as("slots running after a cancel at advance %d", advances).isEqualTo(1);
                engine.step(List.of(speaking));
                assertThat(engine.lastFusedRows()).isZero();
                speaking.close();
                assertThat(llm.running()).isZero();
            }
            // And a later newcomer takes a slot and gets its reply alone
            TurnInput later = turn("m", 0.8, 53);
            Omni2Session m;
            try (TurnEngine.StartingSession starting = engine.begin(later, null)) {
                starting.finish();
                m = (Omni2Session) starting.session();
            }
            assertThat(m.pooled()).isTrue();
            while (!m.done()) {
                engine.step(List.of(m));
            }
            assertThat(m.tokens()).isEqualTo(alone(later).tokens());
            assertThat(m.units()).isEqualTo(alone(later).units());
            m.close();
            assertThat(llm.running()).isZero();
        }
    }
}
