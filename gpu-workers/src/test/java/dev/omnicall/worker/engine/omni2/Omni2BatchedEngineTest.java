package dev.omnicall.worker.engine.omni2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.model.KvPool;
import dev.omnicall.model.omni2.LengthGroups;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.worker.engine.ConversationSnapshot;
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.StepOutput;
import dev.omnicall.worker.engine.TurnInput;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The batched LLaMA-Omni2 engine (pools: one LLM decode for all running sessions, the TTS LM's steps pooled) against
 * the slow obvious reference: each turn alone on an engine without pools, stepped one token at a time on caches of
 * its own. Tiny checkpoint, real DJL tensors; turns of different audio (prompt) lengths arrive at different steps,
 * some run on caches of their own because the pool is full, one is cancelled mid-way.
 */
class Omni2BatchedEngineTest extends TinyOmni2Fixture {
    /**
     * Audio from the same units: flow + HiFT of all due sessions run as padded batches per stage (one, or a few of
     * similar length), which moves the float rounding (SpeechStreamBatchTest), so a sample may move by a few PCM steps
     * (measured at most 3), not more than 16.
     */
    private static final double AUDIO_TOLERANCE = 16.0 / 32767;

    /** A turn of the scenario: its input, the engine step it arrives at, its own steps before a cancel (-1: none). */
    record Arrival(TurnInput input, int atStep, int cancelAfter) {
    }

    /** What a turn produced: text tokens, units, 24 kHz PCM, and the steps it ran. */
    record Result(List<Long> tokens, List<Integer> units, byte[] pcm, int steps, boolean pooled, boolean ttsPooled) {
    }

    /** The scenario on one engine: arrivals joining the batch at their steps, each step one engine.step. */
    private List<Result> runBatched(Omni2TurnEngine engine, List<Arrival> arrivals) {
        List<Omni2Session> sessions = new ArrayList<>();
        List<ByteArrayOutputStream> audio = new ArrayList<>();
        int[] steps = new int[arrivals.size()];
        Result[] results = new Result[arrivals.size()];
        int finished = 0;
        for (int step = 0; finished < arrivals.size(); step++) {
            // the arrivals of this step (in step order) join the batch
            for (int i = sessions.size(); i < arrivals.size() && arrivals.get(i).atStep() <= step; i++) {
                sessions.add((Omni2Session) engine.start(arrivals.get(i).input(), null));
                audio.add(new ByteArrayOutputStream());
            }
            List<EngineSession> batch = new ArrayList<>();
            List<Integer> which = new ArrayList<>();
            for (int i = 0; i < sessions.size(); i++) {
                if (results[i] == null) {
                    batch.add(sessions.get(i));
                    which.add(i);
                }
            }
            List<StepOutput> out = batch.isEmpty() ? List.of() : engine.step(batch);
            for (int j = 0; j < out.size(); j++) {
                int i = which.get(j);
                Omni2Session s = sessions.get(i);
                steps[i]++;
                out.get(j).audio().forEach(p -> audio.get(i).writeBytes(p.pcm()));
                if (out.get(j).done() || steps[i] == arrivals.get(i).cancelAfter()) {
                    results[i] = new Result(s.tokens(), s.units(), audio.get(i).toByteArray(), steps[i], s.pooled(),
                            s.tts().pooled());
                    s.close(); // a cancel frees its slot for the next arrival
                    finished++;
                }
            }
        }
        return List.of(results);
    }

    /** The reference: the turn alone on an engine without pools, for as many steps as it ran in the batch. */
    private Result runAlone(TtsSchedule schedule, TurnInput input, int steps) {
        return runAlone(options(schedule), input, steps);
    }

    private Result runAlone(Omni2TurnEngine.Options options, TurnInput input, int steps) {
        Omni2TurnEngine engine = new Omni2TurnEngine(model, options);
        ByteArrayOutputStream audio = new ByteArrayOutputStream();
        try (Omni2Session s = (Omni2Session) engine.start(input, null)) {
            for (int i = 0; i < steps && !s.done(); i++) {
                StepOutput out = s.step();
                out.audio().forEach(p -> audio.writeBytes(p.pcm()));
            }
            return new Result(s.tokens(), s.units(), audio.toByteArray(), steps, false, false);
        }
    }

    /** Largest difference between two PCM16 streams of the same length, as a float sample. */
    static double maxAudioDifference(byte[] a, byte[] b) {
        assertThat(a).hasSameSizeAs(b);
        double max = 0;
        for (int i = 0; i < a.length; i += 2) {
            int x = (short) ((a[i] & 0xff) | (a[i + 1] << 8));
            int y = (short) ((b[i] & 0xff) | (b[i + 1] << 8));
            max = Math.max(max, Math.abs(x - y) / 32767.0);
        }
        return max;
    }

    private List<Result> checkAgainstAlone(TtsSchedule schedule, int slots, List<Arrival> arrivals) {
        return checkAgainstAlone(options(schedule), slots, slots, arrivals);
    }

    /** The scenario batched on pools of llmSlots and ttsSlots slots, each turn against itself alone. */
    private List<Result> checkAgainstAlone(Omni2TurnEngine.Options options, int llmSlots, int ttsSlots,
            List<Arrival> arrivals) {
        return checkAgainstAlone(options, llmSlots, ttsSlots, arrivals, LengthGroups.defaults());
    }

    /** The same with the due streams' flow + HiFT rows cut into batches by {@code groups}. */
    private List<Result> checkAgainstAlone(Omni2TurnEngine.Options options, int llmSlots, int ttsSlots,
            List<Arrival> arrivals, LengthGroups groups) {
        List<Result> batched;
        try (KvPool llmPool = model.llm().newPool(llmSlots, 256); KvPool ttsPool = model.tts().newPool(ttsSlots, 128)) {
            Omni2TurnEngine engine = new Omni2TurnEngine(model, options, new Omni2TurnEngine.Pools(llmPool, ttsPool),
                    groups);
            batched = runBatched(engine, arrivals);
            assertThat(llmPool.running()).isZero();
            assertThat(ttsPool.running()).isZero();
        }
        for (int i = 0; i < arrivals.size(); i++) {
            Result b = batched.get(i);
            Result alone = runAlone(options, arrivals.get(i).input(), b.steps());
            assertThat(b.tokens()).as("turn %d's text tokens", i).isEqualTo(alone.tokens()).isNotEmpty();
            assertThat(b.units()).as("turn %d's units", i).isEqualTo(alone.units());
            double diff = maxAudioDifference(b.pcm(), alone.pcm());
            System.out.printf("turn %d: %d tokens, %d units, %d samples, pooled LLM %s TTS %s, max audio difference"
                    + " %.2e%n", i, b.tokens().size(), b.units().size(), b.pcm().length / 2, b.pooled(), b.ttsPooled(),
                    diff);
            assertThat(diff).as("turn %d's audio", i).isLessThanOrEqualTo(AUDIO_TOLERANCE);
        }
        return batched;
    }

    @Test
    void shouldMatchTheTurnSteppedAloneWhenOneTurnRunsBatched() {
        // Given one turn on a pool of 2 slots
        // When the batched engine runs it / Then the same tokens, units and audio as alone
        List<Result> r = checkAgainstAlone(new TtsSchedule(3, 10, 40), 2, List.of(new Arrival(turn("a", 1.2, 3), 0, -1)));
        assertThat(r.get(0).pooled()).isTrue();
    }

    @Test
    void shouldMatchEachTurnSteppedAloneWhenThreeTurnsArriveAtDifferentSteps() {
        // Given three turns of 0.6, 1.2 and 2.0 s of audio (prompts of different lengths) arriving at steps 0, 1, 2,
        // with R 1 so that every step writes and the writes of one step differ in their row counts
        List<Arrival> arrivals = List.of(new Arrival(turn("a", 0.6, 11), 0, -1),
                new Arrival(turn("b", 1.2, 12), 1, -1), new Arrival(turn("c", 2.0, 13), 2, -1));
        // When the batched engine runs them / Then each is what it is alone
        List<Result> r = checkAgainstAlone(new TtsSchedule(1, 3, 40), 4, arrivals);
        assertThat(r).allMatch(Result::pooled).allMatch(Result::ttsPooled);
    }

    @Test
    void shouldMatchEachTurnSteppedAloneWhenFiveTurnsShareThreeSlotsAndOneIsCancelled() {
        // Given five turns (one with a history turn) on 3 slots: two run on caches of their own in the same decode;
        // turn b is cancelled after 2 steps and its slot goes to e, which arrives later
        TurnInput withHistory = new TurnInput("d", pcm(0.8, 24), List.of(new TurnInput.PastTurn(1, null,
                pcm(1.0, 25), "Tix")));
        List<Arrival> arrivals = List.of(new Arrival(turn("a", 1.0, 21), 0, -1), new Arrival(turn("b", 1.5, 22), 0, 2),
                new Arrival(turn("c", 0.7, 23), 1, -1), new Arrival(withHistory, 1, -1),
                new Arrival(turn("e", 1.8, 26), 3, -1));
        // When the batched engine runs them / Then each is what it is alone (b up to its cancel)
        List<Result> r = checkAgainstAlone(new TtsSchedule(3, 10, 40), 3, arrivals);
        assertThat(r.get(1).steps()).isEqualTo(2);
        assertThat(r.stream().filter(Result::pooled).count()).isEqualTo(4); // a, b, c; e in b's slot
        assertThat(r.get(3).pooled()).isFalse();
        assertThat(r.stream().filter(Result::ttsPooled).count()).isEqualTo(4);
        assertThat(r.get(3).ttsPooled()).isFalse();
    }

    @Test
    void shouldMatchEachTurnSteppedAloneWhenShortFirstWritesAndLongFinalWritesShareAStep() {
        // Given six turns in two cohorts a step apart: at the first cohort's last step its final writes (the rest of
        // the reply, and the finishes) run beside the second cohort's first writes of 10 units
        List<Arrival> arrivals = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            arrivals.add(new Arrival(turn("m" + i, 0.7 + 0.2 * i, 70 + i), i < 3 ? 0 : 1, -1));
        }
        // When the batched engine runs them with the rows of each stage in batches of similar length, and in one
        // padded batch (the reference for the batching)
        // Then each turn is what it is alone either way
        checkAgainstAlone(options(new TtsSchedule(3, 10, 40)), 6, 6, arrivals, LengthGroups.defaults());
        checkAgainstAlone(options(new TtsSchedule(3, 10, 40)), 6, 6, arrivals, LengthGroups.single());
    }

    @Test
    void shouldMatchEachTurnSteppedAloneWhenTheTtsLmSamples() {
        // Given sampled TTS (each reply's random from the same seed) and three turns, one TTS slot for two of them
        Omni2TurnEngine.Options sampled = options(new TtsSchedule(3, 10, 40), TtsSampling.sampled(7, 1.0));
        List<Arrival> arrivals = List.of(new Arrival(turn("a", 0.9, 61), 0, -1),
                new Arrival(turn("b", 1.4, 62), 0, -1), new Arrival(turn("c", 1.1, 63), 2, -1));
        // When the batched engine runs them / Then each is what it is alone, units drawn in the same order
        List<Result> r = checkAgainstAlone(sampled, 3, 2, arrivals);
        assertThat(r.stream().filter(Result::ttsPooled).count()).isEqualTo(2);
    }

    @Test
    void shouldSizeTheTtsPoolForWholeRepliesAndGiveTheLlmPoolTheRest() {
        Omni2TurnEngine.Options options = options(new TtsSchedule(3, 10, 40));
        // Given the byte bound of 4 LLM slots of 256 positions after 2 TTS slots of a whole reply's context
        long ttsRows = 14 + 1 + 4 * 10 + 40;
        long ttsBytes = 2 * model.tts().poolSlotBytes(ttsRows);
        long bound = ttsBytes + 4 * model.llm().poolSlotBytes(256);
        System.setProperty("omnicall.worker.kv-pool-positions", "256");
        try (Omni2TurnEngine.Pools pools = Omni2TurnEngine.pools(model, options, 2, bound)) {
            // Then the TTS pool has max-batch slots of that context, the LLM pool the rest
            assertThat(pools.tts().slots()).isEqualTo(2);
            assertThat(pools.tts().capacity()).isEqualTo(ttsRows);
            assertThat(pools.llm().slots()).isEqualTo(4);
            assertThat(pools.llm().capacity()).isEqualTo(256);
            assertThat(pools.deviceBytes()).isLessThanOrEqualTo(bound);
        } finally {
            System.clearProperty("omnicall.worker.kv-pool-positions");
        }
        // And a bound of 0 means no pools (every turn alone)
        assertThat(Omni2TurnEngine.pools(model, options, 2, 0).llm()).isNull();
    }

    @Test
    void shouldRunATurnTooLongForTheSlotsOnACacheOfItsOwn() {
        // Given slots of 64 positions, fewer than a prompt + the reply's limit (and than a reply's TTS context, 95)
        try (KvPool llmPool = model.llm().newPool(2, 64); KvPool ttsPool = model.tts().newPool(2, 64)) {
            Omni2TurnEngine engine = new Omni2TurnEngine(model, options(new TtsSchedule(3, 10, 40)),
                    new Omni2TurnEngine.Pools(llmPool, ttsPool));
            // When two turns run batched / Then neither takes a slot (LLM or TTS), and each is what it is alone
            List<Result> r = runBatched(engine, List.of(new Arrival(turn("a", 1.0, 31), 0, -1),
                    new Arrival(turn("b", 1.3, 32), 0, -1)));
            assertThat(r).noneMatch(Result::pooled).noneMatch(Result::ttsPooled);
            assertThat(r.get(1).tokens()).isEqualTo(runAlone(new TtsSchedule(3, 10, 40), turn("b", 1.3, 32), 99).tokens());
        }
    }

    /** Turn 1 of a call on the engine, kept; → its reply text and the snapshot. */
    private record Kept(String text, ConversationSnapshot snapshot) {
    }

    private Kept firstTurn(Omni2TurnEngine engine, String call, short[] audio) {
        try (Omni2Session s = (Omni2Session) engine.start(new TurnInput(call, audio, List.of()), null)) {
            StringBuilder text = new StringBuilder();
            while (!s.done()) {
                text.append(engine.step(List.<EngineSession>of(s)).get(0).text());
            }
            return new Kept(text.toString(), s.keep());
        }
    }

    @Test
    void shouldReuseTheKeptSlotWhenTheCallReturnsAndPrefillInFullWhenItWasEvicted() {
        TtsSchedule schedule = new TtsSchedule(3, 10, 40);
        short[] audio1 = pcm(1.0, 41);
        short[] audio2 = pcm(0.9, 42);
        try (KvPool llmPool = model.llm().newPool(2, 256)) {
            Omni2TurnEngine engine = new Omni2TurnEngine(model, options(schedule),
                    new Omni2TurnEngine.Pools(llmPool, null));
            // Given call A's turn 1, its slot parked for its next turn
            Kept a = firstTurn(engine, "A", audio1);
            assertThat(llmPool.kept()).isEqualTo(1);
            TurnInput a2 = new TurnInput("A", audio2, List.of(new TurnInput.PastTurn(1, null, audio1, a.text())));
            Result cold = runAlone(schedule, a2, 99);
            // When A returns: its turn 2 runs in the same slot on the kept prefix
            Omni2Session returning = (Omni2Session) engine.start(a2, a.snapshot());
            assertThat(returning.reusedSnapshot()).isTrue();
            assertThat(returning.pooled()).isTrue();
            assertThat(returning.speechEncoded()).isEqualTo(1);
            List<Result> r = runToEnd(engine, returning);
            // Then the same reply as a cold start of that turn alone
            assertThat(r.get(0).tokens()).isEqualTo(cold.tokens());
            assertThat(r.get(0).units()).isEqualTo(cold.units());
            ConversationSnapshot kept2 = returning.keep();
            returning.close();
            // Given A's slot parked again, and two other calls taking both slots (A's is the one kept longest)
            Kept b = firstTurn(engine, "B", pcm(1.1, 43));
            Omni2Session c = (Omni2Session) engine.start(turn("C", 1.2, 44), null);
            assertThat(llmPool.evictions()).isEqualTo(1);
            c.close();
            b.snapshot().close();
            // When A returns with its evicted slot: a full prefill (history audio encoded again) in a slot
            TurnInput a3 = new TurnInput("A", pcm(0.8, 45), List.of(new TurnInput.PastTurn(1, null, audio1, a.text()),
                    new TurnInput.PastTurn(2, null, audio2, "Tin")));
            Omni2Session evicted = (Omni2Session) engine.start(a3, kept2);
            assertThat(evicted.reusedSnapshot()).isFalse();
            assertThat(evicted.speechEncoded()).isEqualTo(3);
            List<Result> r3 = runToEnd(engine, evicted);
            evicted.close();
            // Then the same reply as that turn alone from nothing
            assertThat(r3.get(0).tokens()).isEqualTo(runAlone(schedule, a3, 99).tokens());
        }
    }

    private static List<Result> runToEnd(Omni2TurnEngine engine, Omni2Session s) {
        int steps = 0;
        while (!s.done()) {
            engine.step(List.<EngineSession>of(s));
            steps++;
        }
        return List.of(new Result(s.tokens(), s.units(), new byte[0], steps, s.pooled(), s.tts().pooled()));
    }
}
