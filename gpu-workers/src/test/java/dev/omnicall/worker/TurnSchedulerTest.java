package dev.omnicall.worker;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.SampleEvents;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

class TurnSchedulerTest {

    private static final TopicPartition TP = new TopicPartition("turn-requests", 0);

    /** Collects output. */
    static final class Collected implements TurnOutput {
        final List<TextDelta> texts = new ArrayList<>();
        final List<AudioChunk> chunks = new ArrayList<>();
        final List<String> finished = new ArrayList<>();
        final List<CallerText> callerTexts = new ArrayList<>();
        final List<String> transcriptionFailures = new ArrayList<>();
        /** Everything in the order it was handed out: "text", "audio", "caller", "caller-failed", "finished". */
        final List<String> order = new ArrayList<>();

        @Override
        public void text(Turn turn, TextDelta delta) {
            texts.add(delta);
            order.add(turn.callId() + ":text");
        }

        @Override
        public void callerText(Turn turn, CallerText text) {
            callerTexts.add(text);
            order.add(turn.callId() + ":caller");
        }

        @Override
        public void transcriptionFailed(Turn turn, Throwable error) {
            transcriptionFailures.add(turn.callId() + "/" + turn.turnId() + ":" + error.getMessage());
            order.add(turn.callId() + ":caller-failed");
        }

        @Override
        public void audio(Turn turn, AudioChunk chunk) {
            chunks.add(chunk);
            order.add(turn.callId() + ":audio");
        }

        @Override
        public void finished(Turn turn, Outcome outcome, Throwable error) {
            finished.add(turn.callId() + "/" + turn.turnId() + ":" + outcome);
            order.add(turn.callId() + ":finished");
        }

        List<CallerText> callerTexts(String callId) {
            return callerTexts.stream().filter(t -> t.getCallId().toString().equals(callId)).toList();
        }

        List<TextDelta> texts(String callId) {
            return texts.stream().filter(t -> t.getCallId().toString().equals(callId)).toList();
        }

        List<AudioChunk> chunks(String callId) {
            return chunks.stream().filter(t -> t.getCallId().toString().equals(callId)).toList();
        }
    }

    private final CountingWorkerMetrics metrics = new CountingWorkerMetrics();
    private final Collected out = new Collected();

    private static Turn turn(String callId, int turnId, long offset) {
        TurnRequest r = TurnRequest.newBuilder(SampleEvents.turnRequest(callId)).setTurnId(turnId)
                .setAudio(ByteBuffer.wrap(new byte[3200])).build();
        return new Turn(r, TurnRequests.toInput(r), TP, offset, callId.getBytes(), new byte[0], 7);
    }

    private TurnScheduler scheduler(ScriptedEngine engine, int maxBatch, boolean batched, ConversationCache cache) {
        return new TurnScheduler(engine, cache, maxBatch, batched, "w1", metrics, out);
    }

    private static void drain(TurnScheduler s) {
        for (int i = 0; i < 1000 && s.hasWork(); i++) {
            s.runOnce();
        }
    }

    @Test
    void shouldBatchActiveTurnsUpToMaxBatchAndAdmitNewcomersBetweenSteps() {
        // Given a max batch of 2 and three turns of 4 steps each
        ScriptedEngine engine = new ScriptedEngine(4, 2);
        TurnScheduler s = scheduler(engine, 2, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        s.submit(turn("b", 1, 1));
        s.submit(turn("c", 1, 2));
        // When two steps run
        s.runOnce();
        s.runOnce();
        // Then one newcomer joined per step: a alone, then a and b in one forward, c waiting
        assertThat(engine.stepSizes).containsExactly(1, 2);
        assertThat(s.waiting()).isEqualTo(1);
        // When a fourth turn arrives mid-generation it waits too, and each joins as soon as a slot frees
        s.submit(turn("d", 1, 3));
        drain(s);
        // a: steps 1-4, b: 2-5, c: 5-8 (joins as a leaves), d: 6-9 (joins as b leaves)
        assertThat(engine.stepSizes).containsExactly(1, 2, 2, 2, 2, 2, 2, 2, 1);
        assertThat(out.finished).containsExactly("a/1:COMPLETED", "b/1:COMPLETED", "c/1:COMPLETED", "d/1:COMPLETED");
        assertThat(metrics.tokens()).isEqualTo(16);
        assertThat(metrics.maxBatchSeen()).isEqualTo(2);
    }

    @Test
    void shouldStepEachTurnAloneWhenBatchedDecodeIsOff() {
        ScriptedEngine engine = new ScriptedEngine(3, 2);
        TurnScheduler s = scheduler(engine, 4, false, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        s.submit(turn("b", 1, 1));
        drain(s);
        assertThat(engine.stepSizes).hasSize(6).allMatch(n -> n == 1);
        assertThat(out.texts("a")).extracting(t -> t.getText().toString()).containsExactly("t0 ", "t1 ", "t2 ");
    }

    @Test
    void shouldEmitContiguousSeqAndOneLastFlagPerTopicWhenTurnCompletes() {
        ScriptedEngine engine = new ScriptedEngine(5, 2);
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 3, 0));
        drain(s);

        List<TextDelta> texts = out.texts("a");
        assertThat(texts).extracting(TextDelta::getSeq).containsExactlyElementsOf(IntStream.range(0, 5).boxed().toList());
        assertThat(texts).filteredOn(TextDelta::getLast).hasSize(1);
        assertThat(texts.get(texts.size() - 1).getLast()).isTrue();
        assertThat(texts).noneMatch(TextDelta::getCancelled);
        assertThat(texts).allMatch(t -> t.getAttempt() == 7 && t.getTurnId() == 3 && t.getWorkerId().toString().equals("w1"));

        List<AudioChunk> chunks = out.chunks("a");
        assertThat(chunks).extracting(AudioChunk::getSeq).containsExactly(0, 1, 2);
        assertThat(chunks).extracting(AudioChunk::getUnitCount).containsExactly(2, 2, 1);
        assertThat(chunks).extracting(AudioChunk::getLast).containsExactly(false, false, true);
        // Timings: upstream stamps copied, worker stamps filled in order
        var t = chunks.get(2).getTimings();
        assertThat(t.getSpeechEndUs()).isEqualTo(SampleEvents.timings().getSpeechEndUs());
        assertThat(t.getInferenceStartUs()).isNotNull();
        assertThat(t.getPrefillDoneUs()).isGreaterThanOrEqualTo(t.getInferenceStartUs());
        assertThat(t.getFirstUnitsUs()).isGreaterThanOrEqualTo(t.getPrefillDoneUs());
        assertThat(t.getFirstAudioUs()).isGreaterThanOrEqualTo(t.getFirstUnitsUs());
        assertThat(t.getFirstChunkProducedUs()).isGreaterThanOrEqualTo(t.getFirstAudioUs());
    }

    @Test
    void shouldStopTurnWithinOneStepAndEndWithCancelledLastDeltaWhenBargedIn() {
        // Given two calls generating together
        ScriptedEngine engine = new ScriptedEngine(10, 2);
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        s.submit(turn("b", 1, 1));
        s.runOnce();
        s.runOnce();
        int chunksBefore = out.chunks("a").size();
        // When call a barges into turn 1
        boolean found = s.cancel("a", 1, "barge-in");
        drain(s);
        // Then a gets nothing more but one cancelled last delta, and b runs to the end alone
        assertThat(found).isTrue();
        assertThat(out.chunks("a")).hasSize(chunksBefore);
        TextDelta lastA = out.texts("a").get(out.texts("a").size() - 1);
        assertThat(lastA.getCancelled()).isTrue();
        assertThat(lastA.getLast()).isTrue();
        assertThat(lastA.getSeq()).isEqualTo(2);
        assertThat(out.finished).containsExactly("a/1:CANCELLED", "b/1:COMPLETED");
        assertThat(engine.started.get(0).closed).isTrue();
        assertThat(engine.stepSizes.subList(2, engine.stepSizes.size())).allMatch(n -> n == 1);
        assertThat(metrics.cancellations("barge-in")).isEqualTo(1);
    }

    @Test
    void shouldCancelQueuedAndRunningTurnsAndDropCacheWhenCallEnds() {
        ConversationCache cache = new ConversationCache(1000, metrics);
        FakeSnapshot kept = new FakeSnapshot(10);
        cache.put("a", 0, kept);
        ScriptedEngine engine = new ScriptedEngine(10, 2);
        TurnScheduler s = scheduler(engine, 1, true, cache);
        s.submit(turn("a", 1, 0));
        s.submit(turn("a", 2, 1));
        s.runOnce();

        int n = s.cancelCall("a", "call-ended");

        // Then both end with a cancelled delta at once; the queued one (never started) is finished at once, the
        // running one once its caller text is out (the caller said the words before hanging up)
        assertThat(n).isEqualTo(2);
        assertThat(out.texts("a")).filteredOn(TextDelta::getCancelled).extracting(TextDelta::getTurnId).containsExactly(1, 2);
        assertThat(out.finished).containsExactly("a/2:CANCELLED");
        assertThat(cache.contains("a")).isFalse();
        drain(s);
        assertThat(s.hasWork()).isFalse();
        assertThat(out.finished).containsExactly("a/2:CANCELLED", "a/1:CANCELLED");
        assertThat(out.callerTexts("a")).extracting(CallerText::getTurnId).containsExactly(1);
        assertThat(engine.stepSizes).as("no reply step after the cancel").hasSize(1);
        assertThat(engine.started.get(0).closed).isTrue();
    }

    @Test
    void shouldPublishOneCallerTextPerTurnWithItsKeysBeforeTheTurnIsFinished() {
        // Given two turns of two calls
        ScriptedEngine engine = new ScriptedEngine(6, 2);
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 3, 0));
        s.submit(turn("b", 5, 1));
        // When they run to the end
        drain(s);
        // Then each has exactly one CallerText with the turn's keys, stamps and audio length, before its finish
        for (String call : List.of("a", "b")) {
            assertThat(out.callerTexts(call)).hasSize(1);
            CallerText c = out.callerTexts(call).get(0);
            assertThat(c.getText().toString()).isEqualTo("caller " + call);
            assertThat(c.getTurnId()).isEqualTo(call.equals("a") ? 3 : 5);
            assertThat(c.getAttempt()).isEqualTo(7);
            assertThat(c.getWorkerId().toString()).isEqualTo("w1");
            assertThat(c.getLanguage().toString()).isEqualTo("en");
            assertThat(c.getTokenCount()).isEqualTo(engine.callerTokens);
            assertThat(c.getAudioMs()).as("3200 bytes = 1600 samples at 16 kHz").isEqualTo(100);
            assertThat(c.getDecodeDoneUs()).isGreaterThanOrEqualTo(c.getDecodeStartUs());
            assertThat(c.getTimings().getSpeechEndUs()).isEqualTo(SampleEvents.timings().getSpeechEndUs());
            assertThat(c.getTimings().getInferenceStartUs()).isNotNull();
            assertThat(out.order.indexOf(call + ":caller")).isLessThan(out.order.indexOf(call + ":finished"));
        }
        assertThat(metrics.transcriptions(true)).isEqualTo(2);
        assertThat(metrics.transcriptions(false)).isZero();
    }

    @Test
    void shouldFinishACancelledTurnsCallerTextInTheTailWithoutAnotherReplyStep() {
        // Given two turns with their first audio out
        ScriptedEngine engine = new ScriptedEngine(20, 2);
        engine.callerTokens = 9;
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        s.submit(turn("b", 1, 1));
        s.runOnce();
        s.runOnce();
        s.runOnce();
        int decodedAtCancel = engine.started.get(0).decoded;
        // When a is barged into with its caller text unfinished
        s.cancel("a", 1, "barge-in");
        // Then its cancelled delta goes out at once, its reply stops, and its transcript advances by the tail's
        // tokens per step (2) while b speaks, then is published before a is finished
        assertThat(out.texts("a").get(out.texts("a").size() - 1).getCancelled()).isTrue();
        assertThat(out.finished).isEmpty();
        assertThat(s.transcribing()).isEqualTo(1);
        int replyStepsOfA = engine.started.get(0).step;
        s.runOnce();
        assertThat(engine.started.get(0).decoded).isEqualTo(decodedAtCancel + 2);
        drain(s);
        assertThat(engine.started.get(0).step).isEqualTo(replyStepsOfA);
        assertThat(out.callerTexts("a")).hasSize(1);
        assertThat(out.order.indexOf("a:caller")).isLessThan(out.order.indexOf("a:finished"));
        assertThat(out.finished).containsExactly("a/1:CANCELLED", "b/1:COMPLETED");
        assertThat(engine.started.get(0).closed).isTrue();
    }

    @Test
    void shouldFinishACompletedTurnsCallerTextAfterItsReplyWhenANewcomerStillWaitsForItsFirstAudio() {
        // Given a turn about to end whose first chunk came one step ago, and a newcomer with no audio yet
        ScriptedEngine engine = new ScriptedEngine(4, 3);
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        s.runOnce();
        s.runOnce();
        s.submit(turn("b", 1, 1));
        s.runOnce();   // a: step 3, first chunk; b admitted, no audio
        // When a's reply ends while b still has no audio
        s.runOnce();
        // Then a's reply is complete but its caller text was not decoded: it waits in the tail, a not finished
        assertThat(out.chunks("a").get(out.chunks("a").size() - 1).getLast()).isTrue();
        assertThat(engine.started.get(0).decoded).isZero();
        assertThat(out.callerTexts("a")).isEmpty();
        assertThat(out.finished).isEmpty();
        assertThat(s.transcribing()).isEqualTo(1);
        // And once b's first chunk is out, a's caller text is decoded, published, then a is finished as completed
        drain(s);
        assertThat(out.callerTexts("a")).hasSize(1);
        assertThat(out.order.indexOf("a:caller")).isGreaterThan(out.order.lastIndexOf("a:audio"))
                .isLessThan(out.order.indexOf("a:finished"));
        // (a's tail advances 2 tokens per step once b's first chunk is out, so its 4 tokens are done before b's
        // reply ends: a is finished first)
        assertThat(out.finished).containsExactly("a/1:COMPLETED", "b/1:COMPLETED");
        assertThat(engine.started).allMatch(x -> x.closed);
        assertThat(metrics.turnsCompleted()).isEqualTo(2);
    }

    @Test
    void shouldHoldTheTailWhileARunningTurnWaitsForItsFirstAudio() {
        // Given a cancelled turn in the tail and a newcomer that has no audio yet (first chunk after 5 units)
        ScriptedEngine engine = new ScriptedEngine(20, 5);
        engine.callerTokens = 30;
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        for (int i = 0; i < 6; i++) {
            s.runOnce();
        }
        s.cancel("a", 1, "barge-in");
        s.submit(turn("b", 1, 1));
        int decoded = engine.started.get(0).decoded;
        // When b takes its first four steps (no audio yet)
        for (int i = 0; i < 4; i++) {
            s.runOnce();
            assertThat(engine.started.get(0).decoded).as("tail held at step %d of b", i + 1).isEqualTo(decoded);
        }
        // Then the tail moves once b's first chunk is out
        s.runOnce();
        assertThat(out.chunks("b")).isNotEmpty();
        assertThat(engine.started.get(0).decoded).isEqualTo(decoded + 2);
        drain(s);
        assertThat(out.callerTexts("a")).hasSize(1);
    }

    @Test
    void shouldHoldTheCallerDecoderWhileATurnWaitsForABatchSlot() {
        // Given one slot, a turn speaking (its first chunk out) whose caller text is being decoded
        ScriptedEngine engine = new ScriptedEngine(12, 2);
        engine.callerTokens = 40;
        TurnScheduler s = scheduler(engine, 1, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        for (int i = 0; i < 4; i++) {
            s.runOnce();
        }
        ScriptedEngine.Session a = engine.started.get(0);
        assertThat(a.hadAudio).isTrue();
        assertThat(a.decoded).as("a decodes once it speaks and nobody waits").isPositive();
        // When a newcomer arrives and must wait for the slot
        s.submit(turn("b", 1, 1));
        int decoded = a.decoded;
        long heldBefore = metrics.decoderHeldSteps();
        while (engine.started.size() < 2) {
            s.runOnce();
            // Then a's decoder does not move while b is queued, in its reply steps or in the tail
            assertThat(a.decoded).as("a's caller decoder while b waits").isEqualTo(decoded);
        }
        assertThat(metrics.decoderHeldSteps()).isGreaterThan(heldBefore);
        // And it stays held while b, admitted, has no audio; it moves once b's first chunk is out
        ScriptedEngine.Session b = engine.started.get(1);
        while (!b.hadAudio) {
            assertThat(a.decoded).isEqualTo(decoded);
            s.runOnce();
        }
        drain(s);
        assertThat(out.callerTexts("a")).hasSize(1);
        assertThat(out.callerTexts("b")).hasSize(1);
        assertThat(out.order.indexOf("a:caller")).isLessThan(out.order.indexOf("a:finished"));
    }

    @Test
    void shouldHoldTheCallerDecoderInTheStepThatAdmitsANewcomer() {
        // Given a turn speaking with its decoder running, and a free slot
        ScriptedEngine engine = new ScriptedEngine(12, 2);
        engine.callerTokens = 40;
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        for (int i = 0; i < 4; i++) {
            s.runOnce();
        }
        assertThat(engine.decoderAllowed.get(engine.decoderAllowed.size() - 1)).isTrue();
        // When a newcomer is admitted (its prefill runs in this loop)
        s.submit(turn("b", 1, 1));
        s.runOnce();
        // Then the step after its prefill does no decoder work, nor does any step before its first audio
        assertThat(engine.decoderAllowed.get(engine.decoderAllowed.size() - 1)).isFalse();
        while (!engine.started.get(1).hadAudio) {
            s.runOnce();
            assertThat(engine.decoderAllowed.get(engine.decoderAllowed.size() - 1)).isFalse();
        }
        // And the step after b's first chunk may decode again
        s.runOnce();
        assertThat(engine.decoderAllowed.get(engine.decoderAllowed.size() - 1)).isTrue();
    }

    @Test
    void shouldAdvanceAnIdleTailBySlicesSoANewcomerWaitsAtMostOneSlice() {
        // Given a turn cut with a long caller transcript left, and no other turn
        ScriptedEngine engine = new ScriptedEngine(20, 2);
        engine.callerTokens = 100;
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        s.runOnce();
        s.runOnce();
        s.cancel("a", 1, "barge-in");
        ScriptedEngine.Session a = engine.started.get(0);
        int decoded = a.decoded;
        // When the worker loops with nothing else to do
        s.runOnce();
        // Then one loop decodes one slice, not the whole utterance
        assertThat(a.decoded).isEqualTo(decoded + TurnScheduler.IDLE_TAIL_TOKENS);
        // And a newcomer read between two loops holds the tail until its first audio
        s.submit(turn("b", 1, 1));
        int atNewcomer = a.decoded;
        s.runOnce();
        assertThat(a.decoded).isEqualTo(atNewcomer);
        drain(s);
        assertThat(out.callerTexts("a")).hasSize(1);
        assertThat(out.finished).contains("a/1:CANCELLED", "b/1:COMPLETED");
    }

    /** A scheduler on a clock the test moves (µs), with the given delay bound. */
    private TurnScheduler boundedScheduler(ScriptedEngine engine, int maxBatch, java.time.Duration maxDelay,
                                           java.util.concurrent.atomic.AtomicLong clockUs) {
        return new TurnScheduler(engine, new ConversationCache(0, metrics), maxBatch, true, "w1", metrics, out, 2,
                maxDelay, clockUs::get);
    }

    private static final long LOOP_US = 50_000;

    @Test
    void shouldHandOutARunningTurnsCallerTextWithinItsMaxDelayWhileTheQueueNeverEmpties() {
        // Given one slot taken by a long reply with a 100-token caller utterance, and a turn queued behind it for good
        // (so the decoder stays held: a newcomer waits), a 1 s bound and a worker loop of 50 ms
        java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong(1_000_000_000L);
        ScriptedEngine engine = new ScriptedEngine(500, 2);
        engine.callerTokens = 100;
        TurnScheduler s = boundedScheduler(engine, 1, java.time.Duration.ofSeconds(1), clock);
        long arrival = clock.get();
        s.submit(turn("a", 1, 0));
        s.submit(turn("b", 1, 1));
        // When the worker loops
        List<Integer> perLoop = new ArrayList<>();
        long handedOutAt = -1;
        for (int loop = 0; loop < 100 && handedOutAt < 0; loop++) {
            clock.addAndGet(LOOP_US);
            ScriptedEngine.Session a = engine.started.isEmpty() ? null : engine.started.get(0);
            int before = a == null ? 0 : a.decoded;
            s.runOnce();
            a = engine.started.get(0);
            perLoop.add(a.decoded - before);
            if (clock.get() - arrival < 500_000) {
                // Then for the first half of the bound the decoder stays held (b waits for a slot)
                assertThat(a.decoded).as("decoder tokens %d ms after arrival", (clock.get() - arrival) / 1000).isZero();
            }
            if (!out.callerTexts("a").isEmpty()) {
                handedOutAt = clock.get();
            }
        }
        // And a's CallerText is out within the bound, the reply still running and b still queued
        assertThat(handedOutAt).as("a's CallerText handed out").isPositive();
        assertThat(handedOutAt - arrival).isLessThanOrEqualTo(1_000_000);
        assertThat(out.callerTexts("a").get(0).getText().toString()).isEqualTo("caller a");
        assertThat(s.waiting()).isEqualTo(1);
        assertThat(out.finished).isEmpty();
        // And the decoding was paced over the second half, not done in one loop
        assertThat(perLoop).as("decoder tokens per loop").allMatch(n -> n <= 20);
        assertThat(perLoop.stream().filter(n -> n > 0).count()).isGreaterThanOrEqualTo(5);
        assertThat(metrics.decoderForcedTokens()).isEqualTo(100);
        assertThat(metrics.transcriptDelays()).containsExactly(handedOutAt - arrival);
        // And the rest of the reply hands out no second CallerText
        for (int i = 0; i < 20; i++) {
            clock.addAndGet(LOOP_US);
            s.runOnce();
        }
        assertThat(out.callerTexts("a")).hasSize(1);
    }

    @Test
    void shouldNeverRunATurnsTranscriptBeforeItsOwnFirstAudioAndPaceItAfterwardsWhenItIsLate() {
        // Given a turn whose first audio comes only at its 30th step, a turn queued behind it and a 200 ms bound
        java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong(1_000_000_000L);
        ScriptedEngine engine = new ScriptedEngine(60, 30);
        engine.callerTokens = 10;
        TurnScheduler s = boundedScheduler(engine, 1, java.time.Duration.ofMillis(200), clock);
        s.submit(turn("a", 1, 0));
        s.submit(turn("b", 1, 1));
        clock.addAndGet(LOOP_US);
        s.runOnce();
        ScriptedEngine.Session a = engine.started.get(0);
        // When the worker loops well past a's due time before its first audio
        while (!a.hadAudio) {
            // Then no decoder token of a runs before its own first audio
            assertThat(a.decoded).isZero();
            assertThat(out.callerTexts("a")).isEmpty();
            clock.addAndGet(LOOP_US);
            s.runOnce();
        }
        // And from its first chunk on, its overdue transcript is paced over half the bound (no burst), then handed out
        long firstAudioAt = clock.get();
        List<Integer> perLoop = new ArrayList<>();
        while (out.callerTexts("a").isEmpty() && clock.get() - firstAudioAt < 1_000_000) {
            int before = a.decoded;
            clock.addAndGet(LOOP_US);
            s.runOnce();
            perLoop.add(a.decoded - before);
        }
        assertThat(out.callerTexts("a")).hasSize(1);
        assertThat(clock.get() - firstAudioAt).isLessThanOrEqualTo(100_000 + LOOP_US);
        assertThat(perLoop).allMatch(n -> n < 10);
        assertThat(out.order.indexOf("a:audio")).isLessThan(out.order.indexOf("a:caller"));
        assertThat(metrics.transcriptDelays()).singleElement().satisfies(d -> assertThat(d).isGreaterThan(200_000));
    }

    @Test
    void shouldCapTheDecodingTheBoundForcesAtAQuarterOfEachLoopAndLetTheTranscriptBeLateInstead() {
        // Given the running turn and the queue of the first bound test, but a decoder that costs 5 ms a token (100
        // tokens: 500 ms of decoding, more than a quarter of the 500 ms paced half of the bound at 50 ms loops)
        java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong(1_000_000_000L);
        ScriptedEngine engine = new ScriptedEngine(2000, 2);
        engine.callerTokens = 100;
        engine.clock = clock;
        engine.usPerCallerToken = 5_000;
        TurnScheduler s = boundedScheduler(engine, 1, java.time.Duration.ofSeconds(1), clock);
        long arrival = clock.get();
        s.submit(turn("a", 1, 0));
        s.submit(turn("b", 1, 1));
        // When the worker loops (50 ms of reply work per loop, plus whatever the decoder takes)
        List<Long> forcedUs = new ArrayList<>();
        long handedOutAt = -1;
        for (int loop = 0; loop < 400 && handedOutAt < 0; loop++) {
            clock.addAndGet(LOOP_US);
            long before = clock.get();
            s.runOnce();
            forcedUs.add(clock.get() - before);
            if (!out.callerTexts("a").isEmpty()) {
                handedOutAt = clock.get();
            }
        }
        // Then no loop spends more on the forced decoder than a quarter of a loop plus one 2-token slice
        long loopWithDecoder = LOOP_US + forcedUs.stream().mapToLong(Long::longValue).max().orElseThrow();
        assertThat(forcedUs).allMatch(us -> us <= (long) (TurnScheduler.FORCED_SHARE * loopWithDecoder) + 10_000);
        // And the transcript still comes, late rather than at the reply's expense, with its delay recorded as such
        assertThat(handedOutAt).isPositive();
        assertThat(handedOutAt - arrival).isGreaterThan(1_000_000);
        assertThat(metrics.transcriptDelays()).singleElement().satisfies(d -> assertThat(d).isGreaterThan(1_000_000));
        assertThat(metrics.decoderForcedTokens()).isEqualTo(100);
    }

    @Test
    void shouldFinishAnOverdueTailOnAnIdleWorkerByFullIdleSlicesWithoutTheCap() {
        // Given a cut turn whose transcript (100 tokens at 5 ms each) is long overdue, and no other turn at all
        java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong(1_000_000_000L);
        ScriptedEngine engine = new ScriptedEngine(20, 2);
        engine.callerTokens = 100;
        engine.clock = clock;
        engine.usPerCallerToken = 5_000;
        TurnScheduler s = boundedScheduler(engine, 4, java.time.Duration.ofMillis(200), clock);
        s.submit(turn("a", 1, 0));
        clock.addAndGet(LOOP_US);
        s.runOnce();
        clock.addAndGet(LOOP_US);
        s.runOnce();
        s.cancel("a", 1, "barge-in");
        ScriptedEngine.Session a = engine.started.get(0);
        clock.addAndGet(1_000_000);
        // When the idle worker loops
        List<Integer> perLoop = new ArrayList<>();
        for (int loop = 0; loop < 50 && out.callerTexts("a").isEmpty(); loop++) {
            int before = a.decoded;
            clock.addAndGet(LOOP_US);
            s.runOnce();
            perLoop.add(a.decoded - before);
        }
        // Then nobody waits, so the bound's quarter-of-a-loop cap does not apply: whole idle slices, never the whole
        // utterance in one loop (a request read meanwhile waits one slice at most)
        assertThat(out.callerTexts("a")).hasSize(1);
        assertThat(perLoop.subList(0, perLoop.size() - 1)).allMatch(n -> n == TurnScheduler.IDLE_TAIL_TOKENS);
        assertThat(perLoop.get(perLoop.size() - 1)).isBetween(1, TurnScheduler.IDLE_TAIL_TOKENS);
    }

    @Test
    void shouldForceNoDecoderTokenWhenTheDecoderIsFreeToRun() {
        // Given a turn alone on the worker, nothing queued
        java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong(1_000_000_000L);
        ScriptedEngine engine = new ScriptedEngine(20, 2);
        TurnScheduler s = boundedScheduler(engine, 4, java.time.Duration.ofSeconds(1), clock);
        s.submit(turn("a", 1, 0));
        // When it runs to the end
        for (int i = 0; i < 100 && s.hasWork(); i++) {
            clock.addAndGet(LOOP_US);
            s.runOnce();
        }
        // Then its transcript came from the steps' shares alone, within the bound, and the bound cost nothing
        assertThat(out.callerTexts("a")).hasSize(1);
        assertThat(metrics.decoderForcedTokens()).isZero();
        assertThat(metrics.transcriptDelays()).singleElement().satisfies(d -> assertThat(d).isLessThan(500_000));
    }

    @Test
    void shouldFinishAHeldTailWithinItsMaxDelayWhenTheQueueNeverEmpties() {
        // Given a cut turn in the tail with 100 caller tokens left, one slot taken by a long reply and a turn queued
        // behind it for good, a 1 s bound
        java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong(1_000_000_000L);
        ScriptedEngine engine = new ScriptedEngine(500, 2);
        engine.callerTokens = 100;
        TurnScheduler s = boundedScheduler(engine, 1, java.time.Duration.ofSeconds(1), clock);
        long arrival = clock.get();
        s.submit(turn("a", 1, 0));
        clock.addAndGet(LOOP_US);
        s.runOnce();
        clock.addAndGet(LOOP_US);
        s.runOnce();
        s.cancel("a", 1, "barge-in");
        s.submit(turn("b", 1, 1));
        s.submit(turn("c", 1, 2));
        ScriptedEngine.Session a = engine.started.get(0);
        int decoded = a.decoded;
        // When the worker loops
        long handedOutAt = -1;
        for (int loop = 0; loop < 100 && handedOutAt < 0; loop++) {
            clock.addAndGet(LOOP_US);
            int before = a.decoded;
            s.runOnce();
            // Then the tail is held for the first half of its bound (c is queued), paced after that
            if (clock.get() - arrival < 500_000) {
                assertThat(a.decoded).isEqualTo(decoded);
            }
            assertThat(a.decoded - before).isLessThanOrEqualTo(20);
            if (!out.callerTexts("a").isEmpty()) {
                handedOutAt = clock.get();
            }
        }
        // And its CallerText is out within the bound, then the turn is finished, although c still waits
        assertThat(handedOutAt - arrival).isBetween(500_000L, 1_000_000L);
        assertThat(s.waiting()).isEqualTo(1);
        assertThat(out.order.indexOf("a:caller")).isLessThan(out.order.indexOf("a:finished"));
        assertThat(out.finished).contains("a/1:CANCELLED");
    }

    @Test
    void shouldDeadLetterAFailedTranscriptionAndStillCompleteTheReply() {
        // Given a call whose utterance the decoder fails on
        ScriptedEngine engine = new ScriptedEngine(5, 2);
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("bad-decoder", 1, 0));
        // When it runs
        drain(s);
        // Then no CallerText but one transcription failure, counted, and the reply complete
        assertThat(out.callerTexts).isEmpty();
        assertThat(out.transcriptionFailures).containsExactly("bad-decoder/1:scripted decoder failure on bad-decoder");
        assertThat(metrics.transcriptions(false)).isEqualTo(1);
        assertThat(out.chunks("bad-decoder")).extracting(AudioChunk::getUnitCount).containsExactly(2, 2, 1);
        assertThat(out.chunks("bad-decoder").get(2).getLast()).isTrue();
        assertThat(out.finished).containsExactly("bad-decoder/1:COMPLETED");
    }

    @Test
    void shouldPublishNoCallerTextWhenTheEngineDoesNotTranscribe() {
        ScriptedEngine engine = new ScriptedEngine(4, 2).withoutTranscription();
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        s.runOnce();
        s.cancel("a", 1, "barge-in");
        s.submit(turn("b", 1, 1));
        drain(s);
        assertThat(out.callerTexts).isEmpty();
        assertThat(out.finished).containsExactly("a/1:CANCELLED", "b/1:COMPLETED");
        assertThat(metrics.transcriptions(true) + metrics.transcriptions(false)).isZero();
    }

    @Test
    void shouldCountTheReplyTextEachChunkCompletesUpToTheWholeText() {
        ScriptedEngine engine = new ScriptedEngine(7, 3);
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        drain(s);
        int whole = out.texts("a").stream().mapToInt(t -> t.getText().length()).sum();
        // "t0 t1 t2 " after chunk 0, "... t5 " after chunk 1, all 7 tokens after the last
        assertThat(out.chunks("a")).extracting(AudioChunk::getTextChars).containsExactly(9, 18, whole);
        assertThat(whole).isEqualTo(21);
    }

    @Test
    void shouldReuseKeptStateForTheCallsNextTurn() {
        ConversationCache cache = new ConversationCache(1000, metrics);
        ScriptedEngine engine = new ScriptedEngine(2, 2);
        TurnScheduler s = scheduler(engine, 4, true, cache);
        s.submit(turn("a", 1, 0));
        drain(s);
        assertThat(cache.contains("a")).isTrue();

        s.submit(turn("a", 2, 1));
        drain(s);

        assertThat(engine.started.get(0).reusedSnapshot()).isFalse();
        assertThat(engine.started.get(1).reusedSnapshot()).isTrue();
        assertThat(metrics.kvHits()).isEqualTo(1);
        assertThat(metrics.kvMisses()).isEqualTo(1);
    }

    @Test
    void shouldAbandonWithoutOutputTurnsOfRevokedPartitions() {
        ScriptedEngine engine = new ScriptedEngine(10, 2);
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        s.runOnce();
        int texts = out.texts.size();

        int n = s.abandon(List.of(TP));

        assertThat(n).isEqualTo(1);
        assertThat(s.hasWork()).isFalse();
        assertThat(out.texts).hasSize(texts);
        assertThat(out.finished).isEmpty();
        assertThat(engine.started.get(0).closed).isTrue();
    }

    @Test
    void shouldDropTailsOfRevokedPartitionsWithoutOutput() {
        ScriptedEngine engine = new ScriptedEngine(10, 2);
        engine.callerTokens = 50;
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        s.submit(turn("b", 1, 1));
        s.runOnce();
        s.runOnce();
        s.runOnce();
        s.cancel("a", 1, "barge-in");
        assertThat(s.transcribing()).isEqualTo(1);

        int n = s.abandon(List.of(TP));

        assertThat(n).isEqualTo(2);
        assertThat(s.hasWork()).isFalse();
        assertThat(out.callerTexts).isEmpty();
        assertThat(out.finished).isEmpty();
        assertThat(engine.started).allMatch(x -> x.closed);
    }

    @Test
    void shouldFailEveryTurnOfTheBatchWhenTheStepThrows() {
        ScriptedEngine engine = new ScriptedEngine(10, 2) {
            @Override
            public List<dev.omnicall.worker.engine.StepOutput> step(List<dev.omnicall.worker.engine.EngineSession> b,
                                                                    boolean decoderMayRun) {
                throw new IllegalStateException("device lost");
            }
        };
        TurnScheduler s = scheduler(engine, 4, true, new ConversationCache(0, metrics));
        s.submit(turn("a", 1, 0));
        s.submit(turn("b", 1, 1));

        s.runOnce();
        s.runOnce();

        assertThat(out.finished).containsExactly("a/1:FAILED", "b/1:FAILED");
        assertThat(out.texts).allMatch(t -> t.getLast() && t.getCancelled());
        assertThat(s.hasWork()).isFalse();
    }
}
