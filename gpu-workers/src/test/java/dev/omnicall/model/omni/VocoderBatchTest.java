package dev.omnicall.model.omni;

import dev.omnicall.model.TinyModels;
import dev.omnicall.model.stream.AudioPiece;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The vocoder chunks due in one step, in one padded forward ({@link UnitVocoder#synthesizeAll},
 * {@link StreamingVocoder#pushAll}, {@link SpeechGenerator}'s default), against one sequence at a time (the
 * reference): the same durations, and audio within float32 rounding (the padding of a shorter sequence must not leak
 * into its samples: each convolution's input is zeroed past its end).
 */
class VocoderBatchTest {
    private final OmniModel model = TinyModels.model();
    private final UnitVocoder vocoder = model.vocoder();

    private static int[] randomUnits(int n, long seed) {
        return new SplittableRandom(seed).ints(n, 0, 100).toArray();
    }

    @Test
    void shouldSynthesiseEachSequenceOfAPaddedBatchAsAlone() {
        // Given sequences of 1, 7, 23 and 40 units (two with a fixed-duration prefix) and an empty one
        List<int[]> units = List.of(randomUnits(7, 1), randomUnits(40, 2), new int[0], randomUnits(1, 3),
                randomUnits(23, 4));
        List<int[]> fixed = List.of(new int[0], new int[] {3, 1, 2, 5}, new int[0], new int[] {2}, new int[0]);
        // When they are synthesised in one forward
        List<UnitVocoder.Synthesis> batch = vocoder.synthesizeAll(units, fixed);
        // Then each is the sequence alone: same durations, samples within 1e-5
        for (int i = 0; i < units.size(); i++) {
            UnitVocoder.Synthesis alone = vocoder.synthesize(units.get(i), fixed.get(i));
            assertThat(batch.get(i).durations()).as("durations of %d", i).containsExactly(alone.durations());
            assertThat(batch.get(i).audio()).as("audio of %d", i).hasSameSizeAs(alone.audio());
            double diff = 0;
            for (int j = 0; j < alone.audio().length; j++) {
                diff = Math.max(diff, Math.abs(batch.get(i).audio()[j] - alone.audio()[j]));
            }
            assertThat(diff).as("max |sample difference| of %d", i).isLessThan(1e-5);
        }
        assertThat(batch.get(2).audio()).isEmpty();
    }

    @Test
    void shouldGiveEveryTurnTheSameChunksAsVocodingOneTurnAtATime() {
        float[][] inputs = {TinyModels.testAudio(0.5, 21), TinyModels.testAudio(1.2, 22), TinyModels.testAudio(0.8, 23)};
        GenerationOptions options = GenerationOptions.defaults().withMaxNewTokens(12);
        List<List<AudioPiece>> batched = run(new SpeechGenerator(model, options), inputs);
        List<List<AudioPiece>> alone = run(new SpeechGenerator(model, options).withVocoderBatching(false), inputs);
        for (int i = 0; i < inputs.length; i++) {
            List<AudioPiece> a = batched.get(i);
            List<AudioPiece> b = alone.get(i);
            assertThat(a).as("chunks of turn %d", i).hasSameSizeAs(b);
            for (int c = 0; c < a.size(); c++) {
                assertThat(a.get(c).seq()).isEqualTo(b.get(c).seq());
                assertThat(a.get(c).last()).isEqualTo(b.get(c).last());
                assertThat(a.get(c).unitCount()).isEqualTo(b.get(c).unitCount());
                assertThat(a.get(c).textChars()).isEqualTo(b.get(c).textChars());
                short[] x = a.get(c).pcm();
                short[] y = b.get(c).pcm();
                assertThat(x).as("samples of turn %d chunk %d", i, c).hasSameSizeAs(y);
                for (int j = 0; j < y.length; j++) {
                    assertThat(Math.abs(x[j] - y[j])).as("sample %d of turn %d chunk %d", j, i, c).isLessThanOrEqualTo(1);
                }
            }
        }
        assertThat(batched.stream().mapToInt(List::size).sum()).isGreaterThanOrEqualTo(6);
    }

    /** Three turns (the third joining a step late) stepped together to their ends; each turn's chunks. */
    private List<List<AudioPiece>> run(SpeechGenerator generator, float[][] inputs) {
        List<TurnGenerator> turns = new ArrayList<>();
        List<List<AudioPiece>> chunks = new ArrayList<>();
        try {
            turns.add(generator.start(inputs[0], List.of(), null));
            turns.add(generator.start(inputs[1], List.of(), null));
            chunks.add(new ArrayList<>());
            chunks.add(new ArrayList<>());
            boolean joined = false;
            while (turns.stream().anyMatch(t -> !t.isDone())) {
                List<StepResult> rs = generator.stepAll(turns);
                for (int i = 0; i < rs.size(); i++) {
                    chunks.get(i).addAll(rs.get(i).audio());
                }
                if (!joined) {
                    turns.add(generator.start(inputs[2], List.of(), null));
                    chunks.add(new ArrayList<>());
                    joined = true;
                }
            }
        } finally {
            turns.forEach(TurnGenerator::close);
        }
        return chunks;
    }
}
