package dev.omnicall.model.omni;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.TinyModels;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Turns through a {@link KvPool} (pooled decode, slots kept between a call's turns, LRU eviction) against the
 * per-sequence reference generator (no pool, one cache per turn): same tokens, units and audio bytes. The vocoder runs
 * per turn on both sides (its batching, within float32 rounding, is {@link VocoderBatchTest}'s).
 */
class SpeechGeneratorPoolTest {
    private static final int CAPACITY = 512;
    private final OmniModel model = TinyModels.model();
    private final GenerationOptions options = GenerationOptions.defaults().withMaxNewTokens(8);

    /** Everything one turn produced. */
    private record Out(long[] tokens, int[] units, byte[] pcm, String text, int reused) {
    }

    /** What the steps of a set of turns emitted so far, per turn. */
    private static final class Emitted {
        final List<ByteArrayOutputStream> pcm = new ArrayList<>();
        final List<StringBuilder> text = new ArrayList<>();

        /** One stepAll over the turns, its output added to each turn's. */
        void step(SpeechGenerator generator, List<TurnGenerator> turns) {
            while (pcm.size() < turns.size()) {
                pcm.add(new ByteArrayOutputStream());
                text.add(new StringBuilder());
            }
            List<StepResult> rs = generator.stepAll(turns);
            for (int i = 0; i < rs.size(); i++) {
                int k = i;
                rs.get(i).audio().forEach(p -> pcm.get(k).writeBytes(p.pcmBytes()));
                text.get(i).append(rs.get(i).text());
            }
        }

        List<Out> drain(SpeechGenerator generator, List<TurnGenerator> turns) {
            while (turns.stream().anyMatch(t -> !t.isDone())) {
                step(generator, turns);
            }
            List<Out> outs = new ArrayList<>();
            for (int i = 0; i < turns.size(); i++) {
                TurnGenerator t = turns.get(i);
                outs.add(new Out(t.tokenIds(), t.units(), pcm.get(i).toByteArray(), text.get(i).toString(),
                        t.reusedPositions()));
            }
            return outs;
        }
    }

    /** Steps the turns together until all are done; returns each one's output. */
    private static List<Out> drain(SpeechGenerator generator, List<TurnGenerator> turns) {
        return new Emitted().drain(generator, turns);
    }

    /** One turn alone through the reference generator (no pool, fresh prefill). */
    private Out reference(float[] audio, List<HistoryTurn> history) {
        SpeechGenerator generator = new SpeechGenerator(model, options).withVocoderBatching(false);
        try (TurnGenerator t = generator.start(audio, history, null)) {
            return drain(generator, List.of(t)).get(0);
        }
    }

    private static void assertSameReply(Out actual, Out expected, String what) {
        assertThat(actual.tokens()).as("tokens of %s", what).containsExactly(expected.tokens());
        assertThat(actual.units()).as("units of %s", what).containsExactly(expected.units());
        assertThat(actual.pcm()).as("audio of %s", what).isEqualTo(expected.pcm());
        assertThat(actual.text()).as("text of %s", what).isEqualTo(expected.text());
    }

    @Test
    void shouldReplyAsThePerSequencePathWhenTurnsJoinAndLeaveThePool() {
        float[][] inputs = {TinyModels.testAudio(0.5, 3), TinyModels.testAudio(1.2, 4), TinyModels.testAudio(0.8, 5)};
        try (KvPool pool = model.llm().newPool(3, CAPACITY)) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool).withVocoderBatching(false);
            // Given two turns running and a third joining two steps late
            List<TurnGenerator> turns = new ArrayList<>();
            turns.add(generator.start(inputs[0], List.of(), null));
            turns.add(generator.start(inputs[1], List.of(), null));
            Emitted emitted = new Emitted();
            emitted.step(generator, turns);
            emitted.step(generator, turns);
            turns.add(generator.start(inputs[2], List.of(), null));
            assertThat(pool.running()).isEqualTo(3);
            // When they step together to the end (the first two leaving before the third)
            List<Out> outs;
            try {
                outs = emitted.drain(generator, turns);
            } finally {
                turns.forEach(TurnGenerator::close);
            }
            // Then each reply is the per-sequence reference's, bytes of audio included, and the slots are free
            for (int i = 0; i < inputs.length; i++) {
                assertSameReply(outs.get(i), reference(inputs[i], List.of()), "turn " + i);
            }
            assertThat(generator.perSequenceTurns()).isZero();
            assertThat(pool.running()).isZero();
        }
    }

    @Test
    void shouldReplyAsThePerTurnPathWhenRepliesOutgrowTheirCtcSlots() {
        float[][] inputs = {TinyModels.testAudio(0.5, 3), TinyModels.testAudio(1.2, 4), TinyModels.testAudio(0.8, 5)};
        // Given CTC slots of 2 reply tokens' frames for replies of up to 8 tokens
        try (KvPool pool = model.llm().newPool(3, CAPACITY);
                KvPool ctcPool = model.ctc().newPool(3, 3L * model.ctc().upsampleFactor())) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool, ctcPool).withVocoderBatching(false);
            List<TurnGenerator> turns = new ArrayList<>();
            for (float[] input : inputs) {
                turns.add(generator.start(input, List.of(), null));
            }
            assertThat(ctcPool.running()).isEqualTo(3);
            // When they step together to the end
            List<Out> outs;
            boolean[] outgrew = new boolean[inputs.length];
            try {
                outs = drain(generator, turns);
                for (int i = 0; i < inputs.length; i++) {
                    outgrew[i] = turns.get(i).ctcStream().outgrewSlot();
                }
            } finally {
                turns.forEach(TurnGenerator::close);
            }
            // Then the long replies moved their decoders out of the pool, and every reply's tokens, units, audio and
            // text are the per-turn reference's
            for (int i = 0; i < inputs.length; i++) {
                assertSameReply(outs.get(i), reference(inputs[i], List.of()), "turn " + i);
            }
            assertThat(outgrew).contains(true);
            assertThat(ctcPool.running()).isZero();
        }
    }

    @Test
    void shouldReplyAsThePerTurnPathWhenTheCtcDecoderStepsAreBatchedToo() {
        float[][] inputs = {TinyModels.testAudio(0.5, 3), TinyModels.testAudio(1.2, 4), TinyModels.testAudio(0.8, 5),
            TinyModels.testAudio(0.7, 6)};
        long frames = (options.maxNewTokens() + 1L) * model.ctc().upsampleFactor();
        // Given an LLM pool and a CTC pool of 3 slots (the fourth turn's decoder steps alone)
        try (KvPool pool = model.llm().newPool(4, CAPACITY); KvPool ctcPool = model.ctc().newPool(3, frames)) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool, ctcPool).withVocoderBatching(false);
            List<TurnGenerator> turns = new ArrayList<>();
            turns.add(generator.start(inputs[0], List.of(), null));
            turns.add(generator.start(inputs[1], List.of(), null));
            Emitted emitted = new Emitted();
            emitted.step(generator, turns);
            turns.add(generator.start(inputs[2], List.of(), null));
            turns.add(generator.start(inputs[3], List.of(), null));
            assertThat(ctcPool.running()).isEqualTo(3);
            // When they step together to the end
            List<Out> outs;
            try {
                outs = emitted.drain(generator, turns);
            } finally {
                turns.forEach(TurnGenerator::close);
            }
            // Then the units, audio and text are each turn's own, and every CTC slot is free again
            for (int i = 0; i < inputs.length; i++) {
                assertSameReply(outs.get(i), reference(inputs[i], List.of()), "turn " + i);
            }
            assertThat(ctcPool.running()).isZero();
        }
    }

    @Test
    void shouldReuseTheCallsPrefixFromItsSlotOnItsNextTurn() {
        try (KvPool pool = model.llm().newPool(2, CAPACITY)) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool).withVocoderBatching(false);
            // Given a call's first turn, its slot kept for the call
            CallCache kept;
            Out firstTurn;
            try (TurnGenerator t = generator.start(TinyModels.testAudio(1.0, 1), List.of(), null)) {
                firstTurn = drain(generator, List.of(t)).get(0);
                kept = t.takeCache();
            }
            assertThat(kept.isOpen()).isTrue();
            assertThat(pool.kept()).isEqualTo(1);
            // When its second turn starts with it
            List<HistoryTurn> history = List.of(new HistoryTurn("what is the weather", firstTurn.text()));
            float[] second = TinyModels.testAudio(0.7, 2);
            Out reused;
            try (TurnGenerator t = generator.start(second, history, kept)) {
                assertThat(pool.running()).isEqualTo(1);
                assertThat(pool.kept()).isZero();
                reused = drain(generator, List.of(t)).get(0);
            }
            // Then the system prompt and more came from the slot, and the reply is a fresh prefill's
            assertThat(reused.reused()).isGreaterThan(50);
            assertSameReply(reused, reference(second, history), "the second turn");
        }
    }

    @Test
    void shouldGiveTheSameReplyByAFreshPrefillWhenTheCallsSlotWasEvicted() {
        // Given a pool of two slots under a byte limit that holds just two
        long limit = 2 * model.llm().poolSlotBytes(CAPACITY) + 1000;
        int slots = (int) (limit / model.llm().poolSlotBytes(CAPACITY));
        assertThat(slots).isEqualTo(2);
        try (KvPool pool = model.llm().newPool(slots, CAPACITY)) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool).withVocoderBatching(false);
            // and a call whose first turn ended with its slot kept
            CallCache kept;
            Out firstTurn;
            try (TurnGenerator t = generator.start(TinyModels.testAudio(1.0, 1), List.of(), null)) {
                firstTurn = drain(generator, List.of(t)).get(0);
                kept = t.takeCache();
            }
            // When two other calls' turns run at once (the second newcomer takes the kept slot)
            float[][] others = {TinyModels.testAudio(0.6, 7), TinyModels.testAudio(0.9, 8)};
            List<TurnGenerator> turns = new ArrayList<>();
            turns.add(generator.start(others[0], List.of(), null));
            turns.add(generator.start(others[1], List.of(), null));
            assertThat(kept.isOpen()).isFalse();
            assertThat(pool.evictions()).isEqualTo(1);
            List<Out> outs = drain(generator, turns);
            turns.forEach(TurnGenerator::close);
            // and the call's second turn comes with the evicted cache
            List<HistoryTurn> history = List.of(new HistoryTurn("what is the weather", firstTurn.text()));
            float[] second = TinyModels.testAudio(0.7, 2);
            Out afterEviction;
            try (TurnGenerator t = generator.start(second, history, kept)) {
                afterEviction = drain(generator, List.of(t)).get(0);
            }
            // Then it prefilled everything and replied as the reference, and so did the others
            assertThat(afterEviction.reused()).isZero();
            assertSameReply(afterEviction, reference(second, history), "the evicted call's second turn");
            for (int i = 0; i < others.length; i++) {
                assertSameReply(outs.get(i), reference(others[i], List.of()), "other call " + i);
            }
        }
    }

    @Test
    void shouldRunATurnWithItsOwnCacheWhenEverySlotIsBusyOrItDoesNotFit() {
        float[][] inputs = {TinyModels.testAudio(0.6, 7), TinyModels.testAudio(0.9, 8), TinyModels.testAudio(0.5, 9)};
        try (KvPool pool = model.llm().newPool(1, CAPACITY); KvPool small = model.llm().newPool(1, 16)) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool).withVocoderBatching(false);
            // Given one slot: the first turn takes it, the second and third find it busy
            List<TurnGenerator> turns = new ArrayList<>();
            for (float[] in : inputs) {
                turns.add(generator.start(in, List.of(), null));
            }
            // When they step together (one pooled row, two rows with caches of their own)
            List<Out> outs = drain(generator, turns);
            turns.forEach(TurnGenerator::close);
            // Then all reply as the reference
            assertThat(generator.perSequenceTurns()).isEqualTo(2);
            for (int i = 0; i < inputs.length; i++) {
                assertSameReply(outs.get(i), reference(inputs[i], List.of()), "turn " + i);
            }
            // and a prompt longer than a slot runs with a cache of its own too
            SpeechGenerator tight = new SpeechGenerator(model, options, null, small).withVocoderBatching(false);
            try (TurnGenerator t = tight.start(inputs[0], List.of(), null)) {
                assertSameReply(drain(tight, List.of(t)).get(0), outs.get(0), "a turn too long for a slot");
            }
            assertThat(tight.perSequenceTurns()).isEqualTo(1);
            assertThat(small.running()).isZero();
        }
    }
}
