package dev.omnicall.model.omni;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.omnicall.model.Closeness;
import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.stream.PrefillPacer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chunked prefill ({@link SpeechGenerator#begin} + {@link TurnStart#advance} in slices) against the one-shot prefill
 * of {@link SpeechGenerator#start} (the slow obvious reference): the prefill's last logits within 1e-4 of their
 * scale, and the same tokens, units, audio bytes and text for the whole reply; also while another turn decodes in
 * the same pool between the slices, and for a call's second turn that reuses the first one's cached prefix. The vocoder
 * runs per turn here (its batching is {@link VocoderBatchTest}'s), so the audio bytes must be equal.
 */
class ChunkedPrefillTest {
    private final OmniModel model = TinyModels.model();
    private final GenerationOptions options = GenerationOptions.defaults().withMaxNewTokens(10);

    private record Out(long[] tokens, int[] units, byte[] pcm, String text, int reused) {
    }

    /** Steps the turns together to their ends, collecting each one's output (after `already` of earlier steps). */
    private static List<Out> drain(SpeechGenerator generator, List<TurnGenerator> turns, List<ByteArrayOutputStream> pcm,
            List<StringBuilder> text) {
        while (pcm.size() < turns.size()) {
            pcm.add(new ByteArrayOutputStream());
            text.add(new StringBuilder());
        }
        while (turns.stream().anyMatch(t -> !t.isDone())) {
            step(generator, turns, pcm, text);
        }
        List<Out> outs = new ArrayList<>();
        for (int i = 0; i < turns.size(); i++) {
            TurnGenerator t = turns.get(i);
            outs.add(new Out(t.tokenIds(), t.units(), pcm.get(i).toByteArray(), text.get(i).toString(),
                    t.reusedPositions()));
        }
        return outs;
    }

    private static void step(SpeechGenerator generator, List<TurnGenerator> turns, List<ByteArrayOutputStream> pcm,
            List<StringBuilder> text) {
        List<StepResult> rs = generator.stepAll(turns);
        for (int i = 0; i < rs.size(); i++) {
            int k = i;
            rs.get(i).audio().forEach(p -> pcm.get(k).writeBytes(p.pcmBytes()));
            text.get(i).append(rs.get(i).text());
        }
    }

    private static Out alone(SpeechGenerator generator, TurnGenerator t) {
        return drain(generator, List.of(t), new ArrayList<>(), new ArrayList<>()).get(0);
    }

    private static void assertSameReply(Out actual, Out expected, String what) {
        assertThat(actual.tokens()).as("tokens of %s", what).containsExactly(expected.tokens());
        assertThat(actual.units()).as("units of %s", what).containsExactly(expected.units());
        assertThat(actual.pcm()).as("audio of %s", what).isEqualTo(expected.pcm());
        assertThat(actual.text()).as("text of %s", what).isEqualTo(expected.text());
        assertThat(actual.reused()).as("reused positions of %s", what).isEqualTo(expected.reused());
    }

    private static void assertClose(float[] actual, float[] expected, String what) {
        Closeness.assertWithinScale(actual, expected, 1e-4, what + " logits");
    }

    private record OneShot(float[] logits, Out reply) {
    }

    /** The reference: begin, then the whole encoder and the whole prefill in one slice; its logits and whole reply. */
    private static OneShot oneShot(SpeechGenerator generator, float[] audio) {
        TurnStart s = generator.begin(audio, List.of(), null);
        assertThat(s.encoderBlocksLeft()).as("encoder blocks left after begin")
                .isEqualTo(generator.model().encoder().blockCount());
        assertThat(s.advance(Integer.MAX_VALUE)).isTrue();
        assertThat(s.slices()).isEqualTo(1);
        assertThat(s.encoderSlices()).isEqualTo(1);
        assertThat(s.encoderBlocksLeft()).isZero();
        float[] logits = s.firstLogits();
        try (TurnGenerator t = s.take()) {
            return new OneShot(logits, alone(generator, t));
        }
    }

    /** begin + slices of `rows` until ready; returns the start (ready) after checking the slice count. */
    private static TurnStart sliced(SpeechGenerator generator, float[] audio, List<HistoryTurn> history, CallCache reuse,
            int rows) {
        TurnStart s = generator.begin(audio, history, reuse);
        int left = s.rowsLeft();
        while (!s.advance(rows)) {
            assertThat(s.isReady()).isFalse();
        }
        assertThat(s.slices()).as("slices of %d rows for %d rows", rows, left).isEqualTo((left + rows - 1) / rows);
        return s;
    }

    @Test
    void shouldGiveTheOneShotLogitsAndReplyWhateverTheSliceSize() {
        float[] audio = TinyModels.testAudio(1.0, 11);
        SpeechGenerator generator = new SpeechGenerator(model, options).withVocoderBatching(false);
        // Given the one-shot prefill (the reference)
        OneShot reference = oneShot(generator, audio);
        float[] expectedLogits = reference.logits();
        Out expected = reference.reply();
        assertThat(expected.tokens()).isNotEmpty();
        for (int rows : new int[] {1, 7, 64}) {
            // When the same prompt is prefilled in slices of `rows` rows
            TurnStart s = sliced(generator, audio, List.of(), null, rows);
            assertThat(s.promptRows()).isGreaterThan(64); // so every size cuts it
            // Then the logits agree and the whole reply is the same
            assertClose(s.firstLogits(), expectedLogits, "slices of " + rows);
            try (TurnGenerator t = s.take()) {
                assertSameReply(alone(generator, t), expected, "slices of " + rows);
            }
        }
    }

    @Test
    void shouldGiveTheOneShotReplyWhenTheEncoderRunsABlockPerSlice() {
        float[] audio = TinyModels.testAudio(1.0, 17);
        SpeechGenerator generator = new SpeechGenerator(model, options).withVocoderBatching(false);
        // Given the one-shot start (the reference): the whole encoder and the whole prefill in one slice
        int blocks = model.encoder().blockCount();
        assertThat(blocks).as("encoder blocks (so one per slice cuts it)").isGreaterThan(1);
        OneShot reference = oneShot(generator, audio);
        float[] expectedLogits = reference.logits();
        Out expected = reference.reply();
        for (int rows : new int[] {Integer.MAX_VALUE, 7}) {
            // When the encoder runs one block per slice, then the prefill in one slice or in slices of 7 rows
            TurnStart s = generator.begin(audio, List.of(), null);
            int slices = 0;
            while (!s.advanceEncoder(1)) {
                slices++;
                assertThat(s.encoderBlocksLeft()).isEqualTo(blocks - slices);
                assertThat(s.slices()).as("no prompt row before the speech is in").isZero();
            }
            assertThat(s.encoderSlices()).isEqualTo(blocks);
            assertThat(s.encoderBlocksLeft()).isZero();
            while (!s.advance(rows)) {
                assertThat(s.encoderSlices()).as("the encoder does not run again").isEqualTo(blocks);
            }
            // Then the prefill's logits are the one-shot ones (to the bit with the prefill in one slice), and the
            // whole reply is the same
            if (rows == Integer.MAX_VALUE) {
                assertThat(s.firstLogits()).as("logits after the encoder in %d slices", blocks)
                        .containsExactly(expectedLogits);
            } else {
                assertClose(s.firstLogits(), expectedLogits, "encoder in blocks, prefill in slices of 7");
            }
            try (TurnGenerator t = s.take()) {
                assertSameReply(alone(generator, t), expected, "the encoder in " + blocks + " slices");
            }
        }
    }

    @Test
    void shouldGiveTheOneShotReplyWhenTheEncoderIsCutAtAnyRow() {
        float[] audio = TinyModels.testAudio(1.0, 20);
        SpeechGenerator generator = new SpeechGenerator(model, options).withVocoderBatching(false);
        // Given the one-shot start (the reference)
        OneShot reference = oneShot(generator, audio);
        // When the encoder runs in slices of 5 block-rows (cutting its keys and values and its queries mid-block)
        TurnStart s = generator.begin(audio, List.of(), null);
        double work = s.encoderBlockRowsLeft();
        int slices = 0;
        while (!s.advanceEncoderRows(5)) {
            slices++;
            assertThat(s.slices()).as("no prompt row before the speech is in").isZero();
        }
        assertThat(s.encoderSlices()).isEqualTo(slices + 1).isGreaterThanOrEqualTo((int) Math.ceil(work / 5));
        assertThat(s.advanceEncoderRows(5)).as("a finished encoder").isTrue();
        assertThat(s.encoderSlices()).as("a finished encoder counts no slice").isEqualTo(slices + 1);
        // Then the prefill's logits are within rounding of the one-shot ones and the whole reply is the same
        assertThat(s.advance(Integer.MAX_VALUE)).isTrue();
        assertClose(s.firstLogits(), reference.logits(), "the encoder in slices of 5 block-rows");
        try (TurnGenerator t = s.take()) {
            assertSameReply(alone(generator, t), reference.reply(), "the encoder in slices of 5 block-rows");
        }
    }

    @Test
    void shouldPaceTheEncoderWithASmallProbeFirstThenAtTheTurnsOwnCost(@TempDir Path dir) throws IOException {
        // a tiny checkpoint whose encoder has 4 blocks, so one-at-a-time and paced slices differ
        TinyCheckpointWriter.write(dir, 3L, TinyCheckpointWriter.tinyConfig().withSpeechEncoderShape(64, 4, 4),
                TinyCheckpointWriter.tinyVocoderConfig());
        try (OmniModel fourBlocks = OmniModel.load(dir, ModelOptions.defaults().withPaddedSeconds(0))) {
            pacedEncoder(fourBlocks);
        }
    }

    private void pacedEncoder(OmniModel model) {
        float[] audio = TinyModels.testAudio(1.0, 19);
        SpeechGenerator generator = new SpeechGenerator(model, options).withVocoderBatching(false);
        OneShot expected = oneShot(generator, audio);
        int blocks = model.encoder().blockCount();
        assertThat(blocks).isEqualTo(4);
        // Given a pacer that measured a step so long that every block fits one slice
        PrefillPacer pacer = new PrefillPacer(0.5, 8, 4096);
        pacer.stepTook(3_600_000_000L);
        for (boolean oneAtATime : new boolean[] {false, true}) {
            TurnStart s = generator.begin(audio, List.of(), null);
            EncoderSlices encoder = new EncoderSlices(pacer, oneAtATime);
            long frames = s.encoderFrames();
            double work = s.encoderBlockRowsLeft();
            assertThat(work).isEqualTo((double) frames * blocks);
            assertThat(s.encoderPreludeLeft()).as("log-mel and convolutions, not run by begin").isEqualTo(2);
            // When the driver advances the encoder: the first slice runs the prelude and a block, or paced the
            // log-mel alone, the convolutions alone, then a probe of a sixteenth of a block's rows (its cost is not
            // known yet)
            int slices = 0;
            if (!oneAtATime) {
                assertThat(encoder.advance(s)).isFalse();
                assertThat(s.encoderPreludeLeft()).isEqualTo(1);
                assertThat(encoder.advance(s)).isFalse();
                assertThat(s.encoderPreludeLeft()).isZero();
                assertThat(s.encoderBlockRowsLeft()).as("no block-row in the prelude").isEqualTo(work);
                slices = 2;
            }
            assertThat(encoder.advance(s)).isFalse();
            slices++;
            assertThat(s.encoderPreludeLeft()).isZero();
            if (oneAtATime) {
                assertThat(s.encoderBlocksLeft()).isEqualTo(blocks - 1);
            } else {
                assertThat(s.encoderBlocksLeft()).as("the first block still in progress").isEqualTo(blocks);
                assertThat(work - s.encoderBlockRowsLeft()).as("the probe's block-rows")
                        .isPositive().isLessThanOrEqualTo(Math.floor(frames / 16.0));
            }
            // Then the rest in one slice, or one block a slice when asked
            boolean done = false;
            while (!done) {
                done = encoder.advance(s);
                slices++;
            }
            assertThat(slices).as("encoder slices, one at a time: %s", oneAtATime)
                    .isEqualTo(oneAtATime ? blocks : 4);
            assertThat(encoder.advance(s)).as("a finished encoder").isTrue();
            assertThat(s.encoderBlockRowsLeft()).isZero();
            // and the turn is the one-shot one (whole blocks: the logits to the bit; cut at a row: within rounding,
            // WhisperEncoderPassTest)
            assertThat(s.advance(Integer.MAX_VALUE)).isTrue();
            if (oneAtATime) {
                assertThat(s.firstLogits()).containsExactly(expected.logits());
            } else {
                assertClose(s.firstLogits(), expected.logits(), "paced encoder");
            }
            try (TurnGenerator t = s.take()) {
                assertSameReply(alone(generator, t), expected.reply(), "paced encoder, one at a time: " + oneAtATime);
            }
        }
    }

    @Test
    void shouldNotDisturbAPooledTurnThatDecodesBetweenTheSlices() {
        float[] runningAudio = TinyModels.testAudio(0.8, 12);
        float[] newcomerAudio = TinyModels.testAudio(1.1, 13);
        long frames = (options.maxNewTokens() + 1L) * model.ctc().upsampleFactor();
        Out runningAlone;
        Out newcomerAlone;
        SpeechGenerator reference = new SpeechGenerator(model, options).withVocoderBatching(false);
        try (TurnGenerator t = reference.start(runningAudio, List.of(), null)) {
            runningAlone = alone(reference, t);
        }
        try (TurnGenerator t = reference.start(newcomerAudio, List.of(), null)) {
            newcomerAlone = alone(reference, t);
        }
        try (KvPool pool = model.llm().newPool(2, 512); KvPool ctcPool = model.ctc().newPool(2, frames)) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool, ctcPool).withVocoderBatching(false);
            List<TurnGenerator> turns = new ArrayList<>();
            List<ByteArrayOutputStream> pcm = new ArrayList<>();
            List<StringBuilder> text = new ArrayList<>();
            // Given a turn decoding in the pool
            turns.add(generator.start(runningAudio, List.of(), null));
            pcm.add(new ByteArrayOutputStream());
            text.add(new StringBuilder());
            step(generator, turns, pcm, text);
            // When a newcomer prefills into the other slot in slices of 9 rows, one slice per step of the running turn
            TurnStart newcomer = generator.begin(newcomerAudio, List.of(), null);
            assertThat(pool.running()).isEqualTo(2);
            int slicesWhileRunning = 0;
            while (!newcomer.advance(9)) {
                step(generator, turns, pcm, text);
                slicesWhileRunning++;
            }
            assertThat(slicesWhileRunning).isGreaterThan(3);
            turns.add(newcomer.take());
            List<Out> outs;
            try {
                outs = drain(generator, turns, pcm, text);
            } finally {
                turns.forEach(TurnGenerator::close);
            }
            // Then both replies are those of each turn alone through the per-sequence reference
            assertSameReply(outs.get(0), runningAlone, "the running turn");
            assertSameReply(outs.get(1), newcomerAlone, "the newcomer");
            assertThat(generator.perSequenceTurns()).isZero();
        }
    }

    @Test
    void shouldReuseTheCallsPrefixAndReplyAsTheOneShotPrefill() {
        float[] first = TinyModels.testAudio(0.6, 14);
        float[] second = TinyModels.testAudio(0.9, 15);
        SpeechGenerator generator = new SpeechGenerator(model, options).withVocoderBatching(false);
        // Given a call whose first turn ended, twice (one cache for each path)
        Out firstTurn;
        CallCache keptA;
        try (TurnGenerator t = generator.start(first, List.of(), null)) {
            firstTurn = alone(generator, t);
            keptA = t.takeCache();
        }
        CallCache keptB;
        try (TurnGenerator t = generator.start(first, List.of(), null)) {
            alone(generator, t);
            keptB = t.takeCache();
        }
        List<HistoryTurn> history = List.of(new HistoryTurn("what is the weather", firstTurn.text()));
        // When the second turn starts one-shot from one cache and in slices of 5 from the other
        Out oneShot;
        try (TurnGenerator t = generator.start(second, history, keptA)) {
            oneShot = alone(generator, t);
        }
        TurnStart s = sliced(generator, second, history, keptB, 5);
        // Then both reused the same prefix and give the same reply
        assertThat(oneShot.reused()).isGreaterThan(20);
        try (TurnGenerator t = s.take()) {
            assertSameReply(alone(generator, t), oneShot, "the sliced second turn");
        }
    }

    @Test
    void shouldFreeTheSlotWhenAStartIsAbandonedMidPrefill() {
        try (KvPool pool = model.llm().newPool(1, 512)) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool).withVocoderBatching(false);
            TurnStart s = generator.begin(TinyModels.testAudio(0.7, 16), List.of(), null);
            s.advance(4);
            assertThat(s.isReady()).isFalse();
            assertThat(pool.running()).isEqualTo(1);
            s.close();
            assertThat(pool.running()).isZero();
            assertThatThrownBy(() -> s.advance(4)).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> generator.begin(TinyModels.testAudio(0.7, 16), List.of(), null).advance(0))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least 1 row");
        }
        // and mid-encoder: the slot is freed with the encoder's pass
        try (KvPool pool = model.llm().newPool(1, 512)) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool).withVocoderBatching(false);
            TurnStart s = generator.begin(TinyModels.testAudio(0.7, 18), List.of(), null);
            assertThat(s.advanceEncoder(1)).isFalse();
            assertThat(pool.running()).isEqualTo(1);
            s.close();
            assertThat(pool.running()).isZero();
            assertThat(s.encoderBlocksLeft()).isZero();
            assertThatThrownBy(() -> s.advanceEncoder(1)).isInstanceOf(IllegalStateException.class);
            TurnStart t = generator.begin(TinyModels.testAudio(0.7, 18), List.of(), null);
            assertThatThrownBy(() -> t.advanceEncoder(0)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("at least 1 block");
            t.close();
        }
    }
}
