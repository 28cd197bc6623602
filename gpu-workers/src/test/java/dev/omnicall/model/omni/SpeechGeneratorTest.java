package dev.omnicall.model.omni;

import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.stream.AudioPiece;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDArrays;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SpeechGeneratorTest {
    private static final int MAX_TOKENS = 12;
    private final OmniModel model = TinyModels.model();
    private final float[] audio = TinyModels.testAudio(1.0, 1);

    /** Everything one turn produced. */
    record Run(long[] tokens, int[] units, List<AudioPiece> pieces, String text, TurnStamps stamps) {
        byte[] pcm() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            pieces.forEach(p -> out.writeBytes(p.pcmBytes()));
            return out.toByteArray();
        }
    }

    private Run run(GenerationOptions options, float[] input, List<HistoryTurn> history) {
        SpeechGenerator generator = new SpeechGenerator(model, options);
        try (TurnGenerator turn = generator.start(input, history, null)) {
            return drain(turn);
        }
    }

    private static Run drain(TurnGenerator turn) {
        List<AudioPiece> pieces = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        while (!turn.isDone()) {
            StepResult r = turn.step();
            pieces.addAll(r.audio());
            text.append(r.text());
        }
        return new Run(turn.tokenIds(), turn.units(), pieces, text.toString(), turn.stamps());
    }

    /** The slow, obvious reference: greedy decoding with full states, then the CTC decoder over all of them. */
    private int[] wholeUtteranceUnits(float[] input) {
        NDList states = new NDList();
        Prompt prompt = model.prompt(model.encodeSpeech(input), List.of(), -1);
        LlamaModel llm = model.llm();
        try (KvCache cache = llm.newCache(256)) {
            LlamaModel.Output out = llm.forward(prompt.embeddings(), cache, prompt.keys());
            long token = out.lastLogits().argMax().getLong();
            NDArray state = out.hidden().get(prompt.keys().length - 1);
            int emitted = 0;
            while (true) {
                states.add(state);
                if (model.isEos(token) || ++emitted >= MAX_TOKENS) {
                    break;
                }
                LlamaModel.Output o = llm.decodeBatch(new long[] {token}, List.of(cache));
                state = o.hidden().get(0);
                token = o.lastLogits().get(0).argMax().getLong();
            }
        }
        return model.ctc().offline(NDArrays.stack(states)).units();
    }

    @ParameterizedTest(name = "Ω = {0}")
    @ValueSource(strings = {"1", "10", "40", "inf"})
    void shouldConcatenateChunkUnitsToTheWholeUtteranceUnitsForEveryOmega(String omega) {
        // Given a chunk schedule Ω
        ChunkSchedule schedule = ChunkSchedule.parse(omega);
        // When a turn streams to the end
        Run run = run(GenerationOptions.defaults().withSchedule(schedule).withMaxNewTokens(MAX_TOKENS), audio, List.of());
        // Then the chunks' units add up to the units of one offline pass over all LLM states
        int[] whole = wholeUtteranceUnits(audio);
        assertThat(run.units()).containsExactly(whole);
        assertThat(run.pieces().stream().mapToInt(AudioPiece::unitCount).sum()).isEqualTo(whole.length);
        // and every chunk but the last holds at least Ω units, the last is marked, seq counts up
        for (int i = 0; i < run.pieces().size(); i++) {
            AudioPiece p = run.pieces().get(i);
            assertThat(p.seq()).isEqualTo(i);
            assertThat(p.last()).isEqualTo(i == run.pieces().size() - 1);
            if (!p.last()) {
                assertThat(p.unitCount()).isGreaterThanOrEqualTo(schedule.sizeFor(i));
            }
        }
        if (omega.equals("inf")) {
            assertThat(run.pieces()).hasSize(1);
        }
        if (omega.equals("1")) {
            assertThat(run.pieces().size()).isGreaterThan(2);
        }
    }

    @Test
    void shouldProduceIdenticalTokensUnitsAndAudioWhenRunTwice() {
        GenerationOptions options = GenerationOptions.defaults().withMaxNewTokens(MAX_TOKENS);
        Run first = run(options, audio, List.of());
        Run second = run(options, audio, List.of());
        assertThat(second.tokens()).containsExactly(first.tokens());
        assertThat(second.units()).containsExactly(first.units());
        assertThat(second.pcm()).isEqualTo(first.pcm());
        assertThat(first.pcm()).isNotEmpty();
    }

    @Test
    void shouldStampInferenceStagesInOrder() {
        Run run = run(GenerationOptions.defaults().withMaxNewTokens(MAX_TOKENS), audio, List.of());
        TurnStamps s = run.stamps();
        assertThat(s.inferenceStartUs()).isPositive();
        assertThat(s.prefillDoneUs()).isGreaterThanOrEqualTo(s.inferenceStartUs());
        assertThat(s.firstUnitsUs()).isGreaterThanOrEqualTo(s.prefillDoneUs());
        assertThat(s.firstAudioUs()).isGreaterThanOrEqualTo(s.firstUnitsUs());
    }

    @Test
    void shouldEmitNothingMoreWhenCancelled() {
        SpeechGenerator generator = new SpeechGenerator(model, GenerationOptions.defaults().withMaxNewTokens(50));
        try (TurnGenerator turn = generator.start(audio, List.of(), null)) {
            turn.step();
            turn.step();
            // When cancelled mid-turn
            turn.cancel();
            // Then it is done, further steps produce nothing, and its cache can still be kept
            StepResult after = turn.step();
            assertThat(turn.isDone()).isTrue();
            assertThat(after.cancelled()).isTrue();
            assertThat(after.audio()).isEmpty();
            assertThat(after.text()).isEmpty();
            assertThat(turn.tokenIds()).hasSize(2);
            try (CallCache kept = turn.takeCache()) {
                assertThat(kept.length()).isPositive();
            }
        }
    }

    @Test
    void shouldRefuseToHandOverTheCacheWhileTheTurnRuns() {
        SpeechGenerator generator = new SpeechGenerator(model, GenerationOptions.defaults().withMaxNewTokens(5));
        try (TurnGenerator turn = generator.start(audio, List.of(), null)) {
            assertThatThrownBy(turn::takeCache).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("still running");
        }
    }

    @Test
    void shouldReplyAsAFreshPrefillWouldWhenReusingTheCallCache() {
        // Given a first turn whose cache the worker kept
        SpeechGenerator generator = new SpeechGenerator(model, GenerationOptions.defaults().withMaxNewTokens(6));
        CallCache kept;
        String firstReply;
        try (TurnGenerator first = generator.start(audio, List.of(), null)) {
            firstReply = drain(first).text();
            kept = first.takeCache();
        }
        List<HistoryTurn> history = List.of(new HistoryTurn("what is the weather", firstReply));
        float[] second = TinyModels.testAudio(0.7, 2);
        // When the second turn starts with that cache, and again without it
        Run reused;
        int reusedPositions;
        try (TurnGenerator turn = generator.start(second, history, kept)) {
            reusedPositions = turn.reusedPositions();
            reused = drain(turn);
        }
        Run fresh = run(GenerationOptions.defaults().withMaxNewTokens(6), second, history);
        // Then the cached system prompt was reused and the reply is the same
        assertThat(reusedPositions).isGreaterThan(50);
        assertThat(reused.tokens()).containsExactly(fresh.tokens());
        assertThat(reused.units()).containsExactly(fresh.units());
    }

    @Test
    void shouldMatchSeparateStepsWhenTurnsStepTogetherInOneBatch() {
        // Given three turns of different audio lengths
        GenerationOptions options = GenerationOptions.defaults().withMaxNewTokens(8);
        SpeechGenerator generator = new SpeechGenerator(model, options);
        float[][] inputs = {TinyModels.testAudio(0.5, 3), TinyModels.testAudio(1.2, 4), TinyModels.testAudio(0.8, 5)};
        List<Run> alone = new ArrayList<>();
        for (float[] in : inputs) {
            alone.add(run(options, in, List.of()));
        }
        // When they are stepped together, the third joining two steps late (continuous batching)
        List<TurnGenerator> turns = new ArrayList<>();
        turns.add(generator.start(inputs[0], List.of(), null));
        turns.add(generator.start(inputs[1], List.of(), null));
        generator.stepAll(turns);
        generator.stepAll(turns);
        turns.add(generator.start(inputs[2], List.of(), null));
        while (turns.stream().anyMatch(t -> !t.isDone())) {
            generator.stepAll(turns);
        }
        // Then each turn produced what it produces alone
        for (int i = 0; i < inputs.length; i++) {
            assertThat(turns.get(i).tokenIds()).as("turn %d", i).containsExactly(alone.get(i).tokens());
            assertThat(turns.get(i).units()).as("turn %d", i).containsExactly(alone.get(i).units());
            turns.get(i).close();
        }
    }
}
