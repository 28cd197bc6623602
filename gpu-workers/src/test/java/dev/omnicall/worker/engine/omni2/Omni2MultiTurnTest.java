package dev.omnicall.worker.engine.omni2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.LogMelFrontend;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.omni2.Omni2ChatPrompt;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.worker.engine.ConversationSnapshot;
import dev.omnicall.worker.engine.StepOutput;
import dev.omnicall.worker.engine.TurnInput;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Issue 13 item 6, multi-turn the LLaMA-Omni2 way on the tiny checkpoint: the turn-2 prompt holds turn 1's caller
 * audio as speech rows and its reply as text; the kept per-call cache (fast path) and a cold start that re-encodes
 * the history's audio (the reference: a move to another worker) give the same prompt keys, the same first logits
 * within a float tolerance and the same reply tokens, both equal to the prompt spelled out by hand from the template.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Omni2MultiTurnTest {
    private static final int MAX_NEW = 10;
    /** Kept vs recomputed logits: the kept rows of the reply were run one at a time, the recompute's all at once. */
    private static final double LOGIT_TOLERANCE = 1e-4;

    private Omni2Model model;
    private Omni2TurnEngine engine;

    @BeforeAll
    void load() {
        model = Omni2Model.load(Omni2TurnEngineTest.tinyDir(), ModelOptions.defaults().withPaddedSeconds(0));
        engine = new Omni2TurnEngine(model, new Omni2TurnEngine.Options(new TtsSchedule(3, 10, 10),
                TtsSampling.greedy(), MAX_NEW));
    }

    @AfterAll
    void close() {
        model.close();
    }

    private static short[] pcm(double seconds, long seed) {
        float[] x = TinyModels.testAudio(seconds, seed);
        short[] pcm = new short[x.length];
        for (int i = 0; i < x.length; i++) {
            pcm[i] = (short) Math.round(x[i] * 32767);
        }
        return pcm;
    }

    /** Steps a session to its end; → the text it emitted and its tokens. */
    private static List<Long> runToEnd(Omni2Session s, StringBuilder text) {
        while (!s.done()) {
            StepOutput out = s.step();
            text.append(out.text());
        }
        return s.tokens();
    }

    /** Turn 1 of a call: its reply text and the kept cache. */
    private record First(String text, ConversationSnapshot kept, int promptRows, List<Long> tokens) {
    }

    private First firstTurn(short[] audio) {
        try (Omni2Session s = (Omni2Session) engine.start(new TurnInput("call", audio, List.of()), null)) {
            StringBuilder text = new StringBuilder();
            List<Long> tokens = runToEnd(s, text);
            return new First(text.toString(), s.keep(), s.promptKeys().length, tokens);
        }
    }

    /** The turn-2 prompt spelled out from the template by hand: its keys and its first logits on a fresh cache. */
    private record Reference(long[] keys, float[] logits) {
    }

    private Reference byHand(short[] audio1, String reply1, short[] audio2) {
        String before = "<|im_start|>system\n" + Omni2ChatPrompt.DEFAULT_SYSTEM + "<|im_end|>\n<|im_start|>user\n";
        String middle = "<|im_end|>\n<|im_start|>assistant\n" + reply1.strip() + "<|im_end|>\n<|im_start|>user\n";
        String after = "<|im_end|>\n<|im_start|>assistant\n";
        LlamaModel llm = model.llm();
        try (NDScope scope = new NDScope(); KvCache cache = llm.newCache(16)) {
            scope.suppressNotUsedWarning();
            float[] a1 = LogMelFrontend.pcmToFloat(audio1);
            float[] a2 = LogMelFrontend.pcmToFloat(audio2);
            NDArray s1 = model.encodeSpeech(a1).toType(llm.dataType(), false);
            NDArray s2 = model.encodeSpeech(a2).toType(llm.dataType(), false);
            List<Long> keys = new ArrayList<>();
            long[][] text = {model.tokenizer().encode(before), model.tokenizer().encode(middle),
                    model.tokenizer().encode(after)};
            NDArray[] speech = {s1, s2};
            float[][] audio = {a1, a2};
            NDList rows = new NDList();
            for (int i = 0; i < 3; i++) {
                for (long k : text[i]) {
                    keys.add(k);
                }
                rows.add(llm.embed(text[i]));
                if (i < 2) {
                    long base = Omni2Model.speechKey(audio[i]);
                    for (int r = 0; r < speech[i].getShape().get(0); r++) {
                        keys.add(base - r);
                    }
                    rows.add(speech[i]);
                }
            }
            long[] k = keys.stream().mapToLong(Long::longValue).toArray();
            LlamaModel.Output out = llm.forward(NDArrays.concat(rows, 0), cache, k);
            return new Reference(k, out.lastLogits().toType(DataType.FLOAT32, false).toFloatArray());
        }
    }

    private static double maxDiff(float[] a, float[] b) {
        assertThat(a).hasSameSizeAs(b);
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    @Test
    void shouldBuildTheSameTurnTwoPromptFromTurnOnesAudioAndReplyWhetherTheCacheWasKeptOrNot() {
        // Given turn 1 of a call, answered, its cache kept
        short[] audio1 = pcm(1.2, 3);
        short[] audio2 = pcm(0.9, 11);
        First first = firstTurn(audio1);
        assertThat(first.kept()).isNotNull();
        TurnInput turn2 = new TurnInput("call", audio2, List.of(new TurnInput.PastTurn(1, null, audio1, first.text())));
        Reference reference = byHand(audio1, first.text(), audio2);
        int rows1 = model.speechRows(audio1.length);
        // When turn 2 starts on the kept cache (the call stayed) and cold (the call moved: the history audio again)
        try (Omni2Session kept = (Omni2Session) engine.start(turn2, first.kept());
                Omni2Session cold = (Omni2Session) engine.start(turn2, null)) {
            // Then both prompts are the one spelled out by hand: turn 1 as speech rows, its reply as text
            assertThat(kept.promptKeys()).isEqualTo(reference.keys());
            assertThat(cold.promptKeys()).isEqualTo(reference.keys());
            // (the worker's debug log names the same pieces: turn 1's speech, then turn 2's, each key x rows)
            assertThat(Omni2Session.speechPieces(kept.promptKeys())).isEqualTo("["
                    + Omni2Model.speechKey(LogMelFrontend.pcmToFloat(audio1)) + "x" + rows1 + ", "
                    + Omni2Model.speechKey(LogMelFrontend.pcmToFloat(audio2)) + "x" + model.speechRows(audio2.length) + "]");
            // And the kept cache covered turn 1's speech (not encoded again), the cold start encoded both
            System.out.printf("turn 2: %d prompt rows, %d reused from the kept cache (turn 1: %d prompt rows, %d of them"
                    + " speech, reply tokens %s = '%s')%n", reference.keys().length, kept.reusedPositions(),
                    first.promptRows(), rows1, first.tokens(), first.text().replace("\n", "\\n"));
            assertThat(kept.speechEncoded()).isEqualTo(1);
            assertThat(kept.reusedSnapshot()).isTrue();
            assertThat(kept.reusedPositions()).isGreaterThan(rows1);
            assertThat(cold.speechEncoded()).isEqualTo(2);
            assertThat(cold.reusedPositions()).isZero();
            // And the first logits agree with the hand-built prefill, kept or recomputed
            double keptDiff = maxDiff(kept.firstLogits(), reference.logits());
            double coldDiff = maxDiff(cold.firstLogits(), reference.logits());
            System.out.printf("first logits vs by hand: kept %.3g, cold %.3g%n", keptDiff, coldDiff);
            assertThat(keptDiff).isLessThan(LOGIT_TOLERANCE);
            assertThat(coldDiff).isLessThan(LOGIT_TOLERANCE);
            // And the replies are the same tokens
            assertThat(runToEnd(kept, new StringBuilder())).isEqualTo(runToEnd(cold, new StringBuilder()));
        }
    }

    @Test
    void shouldReuseTheReplysDecodedRowsWhenTheReplyTextTokenizesAsItWasGenerated() {
        // Given a call cache as a turn leaves it: turn 1's prompt prefilled, then a reply decoded one token at a time
        // (a forced reply longer than the tiny model's three letters, its rows decoded as a turn's are)
        short[] audio1 = pcm(1.2, 3);
        short[] audio2 = pcm(0.9, 11);
        String reply = "Hello there, how can I help?";
        long[] replyTokens = model.tokenizer().encode(reply);
        LlamaModel llm = model.llm();
        KvCache cache = llm.newCache(16);
        int turn1Rows;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            Omni2Model.PromptPlan plan = model.plan(LogMelFrontend.pcmToFloat(audio1), List.of(), new long[0]);
            turn1Rows = plan.keys().length;
            llm.forward(plan.rows(), cache, plan.keys());
            for (long t : replyTokens) {
                llm.forward(llm.embed(new long[] {t}), cache, new long[] {t});
            }
        }
        TurnInput turn2 = new TurnInput("call", audio2, List.of(new TurnInput.PastTurn(1, null, audio1, reply)));
        // When turn 2 starts on it, and cold
        try (Omni2Session kept = (Omni2Session) engine.start(turn2, new Omni2TurnEngine.Snapshot(cache));
                Omni2Session cold = (Omni2Session) engine.start(turn2, null)) {
            // Then the reply's decoded rows are reused too, and the prompt, logits and reply are the cold start's
            System.out.printf("forced reply: %d tokens, %d of turn 2's %d rows reused (turn 1's prompt: %d)%n",
                    replyTokens.length, kept.reusedPositions(), kept.promptKeys().length, turn1Rows);
            assertThat(kept.reusedPositions()).isGreaterThanOrEqualTo(turn1Rows + replyTokens.length);
            assertThat(kept.promptKeys()).isEqualTo(cold.promptKeys()).isEqualTo(byHand(audio1, reply, audio2).keys());
            double diff = maxDiff(kept.firstLogits(), cold.firstLogits());
            System.out.printf("first logits kept vs cold: %.3g%n", diff);
            assertThat(diff).isLessThan(LOGIT_TOLERANCE);
            assertThat(runToEnd(kept, new StringBuilder())).isEqualTo(runToEnd(cold, new StringBuilder()));
        }
    }

    @Test
    void shouldRecomputeFromWhereTheReplyTextDiffersWhenTheCallerCutTheReply() {
        // Given turn 1 whose reply the caller cut: the history holds the heard part only
        short[] audio1 = pcm(1.2, 3);
        short[] audio2 = pcm(0.9, 11);
        First first = firstTurn(audio1);
        String heard = first.text().substring(0, first.text().length() / 2);
        TurnInput turn2 = new TurnInput("call", audio2, List.of(new TurnInput.PastTurn(1, null, audio1, heard)));
        try (Omni2Session kept = (Omni2Session) engine.start(turn2, first.kept());
                Omni2Session cold = (Omni2Session) engine.start(turn2, null)) {
            // Then the kept cache gives its prefix up to the cut, the rest is prefilled: the same prompt and logits
            assertThat(kept.promptKeys()).isEqualTo(cold.promptKeys()).isEqualTo(byHand(audio1, heard, audio2).keys());
            assertThat(kept.speechEncoded()).isEqualTo(1);
            assertThat(kept.reusedPositions()).isGreaterThan(model.speechRows(audio1.length));
            assertThat(maxDiff(kept.firstLogits(), cold.firstLogits())).isLessThan(LOGIT_TOLERANCE);
            assertThat(runToEnd(kept, new StringBuilder())).isEqualTo(runToEnd(cold, new StringBuilder()));
        }
    }

    @Test
    void shouldPutAnEarlierTurnInAsTextWhenItsAudioIsNoLongerCarried() {
        // Given a history turn without audio (older than the conversation keeps audio for)
        short[] audio2 = pcm(0.9, 11);
        TurnInput turn2 = new TurnInput("call", audio2, List.of(
                new TurnInput.PastTurn(1, "what time is it", null, "nine")));
        try (Omni2Session s = (Omni2Session) engine.start(turn2, null)) {
            // Then its transcript stands in the user turn, and only this turn's speech is encoded
            long[] expected = model.prompt(model.encodeSpeech(LogMelFrontend.pcmToFloat(audio2)),
                    List.of(new HistoryTurn("what time is it", "nine"))).keys();
            long[] keys = s.promptKeys();
            assertThat(keys).hasSameSizeAs(expected);
            assertThat(s.speechEncoded()).isEqualTo(1);
            long base = Omni2Model.speechKey(LogMelFrontend.pcmToFloat(audio2));
            for (int i = 0; i < keys.length; i++) {
                assertThat(keys[i]).isEqualTo(expected[i] < 0 ? base - (Omni2Model.SPEECH_KEY - expected[i])
                        : expected[i]);
            }
        }
    }

    @Test
    void shouldGiveAFreshStartTheSameKeysForTheSameAudio() {
        // The speech keys are a function of the samples: the same audio matches, one changed sample does not
        float[] a = LogMelFrontend.pcmToFloat(pcm(0.5, 4));
        float[] b = a.clone();
        b[100] += 1e-3f;
        assertThat(Omni2Model.speechKey(a)).isEqualTo(Omni2Model.speechKey(a.clone())).isNegative()
                .isNotEqualTo(Omni2Model.speechKey(b));
        assertThat(Omni2Model.speechKey(a) % 65536).isEqualTo(-1);
        assertThat(model.speechRows(a.length)).isEqualTo(model.encodeSpeech(a).getShape().get(0));
        assertThat(model.speechRows(3 * 16000 + 7)).isEqualTo(model.encodeSpeech(new float[3 * 16000 + 7]).getShape().get(0));
    }
}
