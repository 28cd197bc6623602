package dev.omnicall.worker;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.SampleEvents;
import dev.omnicall.kafka.Topics;
import dev.omnicall.model.omni.SpeechGenerator;
import dev.omnicall.model.omni.SteppedRun;
import dev.omnicall.model.stream.CallerDecoder;
import dev.omnicall.model.stream.TranscriptionOptions;
import dev.omnicall.worker.engine.OmniTurnEngine;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static dev.omnicall.worker.WorkerHarness.await;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The worker loop on the real embedded broker with the real model runtime on a tiny checkpoint written by
 * {@code TinyCheckpointWriter}. One broker and one loaded model for the class; each test starts its own
 * worker in the shared consumer group and uses its own call IDs.
 */
@Timeout(180)
class InferenceWorkerIT {

    static final int MAX_NEW_TOKENS = 64;
    static final Duration WAIT = Duration.ofSeconds(60);

    static WorkerHarness harness;
    static OmniTurnEngine engine;
    static WorkerConfig config;

    final List<Running> workers = new ArrayList<>();

    record Running(InferenceWorker worker, Thread thread, CountingWorkerMetrics metrics) {
        void stop() throws InterruptedException {
            worker.close();
            thread.join(15_000);
        }
    }

    @BeforeAll
    static void startBrokerAndModel() {
        harness = new WorkerHarness(2);
        config = WorkerConfig.defaults(harness.kafka.settings(), WorkerHarness.tinyCheckpoint())
                .withEncoderPaddedSeconds(0)
                .withOmega(List.of(4, 8, 16))
                .withLimits(MAX_NEW_TOKENS, Duration.ofSeconds(5), 64L << 20)
                .withBatching(4, true)
                .withIdentity("it-worker", "it-workers");
        engine = OmniTurnEngine.load(config);
    }

    @AfterAll
    static void stopAll() {
        if (engine != null) {
            engine.close();
        }
        if (harness != null) {
            harness.close();
        }
    }

    @AfterEach
    void stopWorkers() throws InterruptedException {
        for (Running r : workers) {
            r.stop();
        }
    }

    Running startWorker(String instanceId) {
        return startWorker(instanceId, config);
    }

    Running startWorker(String instanceId, WorkerConfig base) {
        return startWorker(instanceId, base, engine);
    }

    Running startWorker(String instanceId, WorkerConfig base, OmniTurnEngine turnEngine) {
        CountingWorkerMetrics metrics = new CountingWorkerMetrics();
        InferenceWorker worker = new InferenceWorker(base.withIdentity(instanceId, base.groupId()), turnEngine, metrics);
        Thread t = new Thread(worker, instanceId);
        t.start();
        Running r = new Running(worker, t, metrics);
        workers.add(r);
        await("partition assignment of " + instanceId, WAIT, worker::isAssigned);
        return r;
    }

    @Test
    void shouldStreamTextAndAudioWithContiguousSeqAndTimingsWhenTurnRequestArrives() throws Exception {
        // Given a running worker
        Running w = startWorker("it-stream");
        String callId = WorkerHarness.newCallId();
        // When one TurnRequest arrives, stamped as streams stamps it (same host, same wall clock as the worker)
        TurnRequest request = WorkerHarness.request(callId, 1, WorkerHarness.utterance(0.6, 1), List.of());
        long producedUs = Clock.nowMicros();
        request.getTimings().setRequestProducedUs(producedUs);
        harness.send(Topics.TURN_REQUESTS, callId, request);
        await("the turn's last delta and chunk", WAIT, () -> harness.turnEnded(callId, 1) && harness.audioEnded(callId, 1));
        // Then TextDeltas and AudioChunks stream with contiguous seq, one last flag each, one attempt
        List<TextDelta> texts = harness.texts(callId);
        List<AudioChunk> chunks = harness.chunks(callId);
        assertThat(texts).extracting(TextDelta::getSeq).containsExactlyElementsOf(range(texts.size()));
        assertThat(chunks).extracting(AudioChunk::getSeq).containsExactlyElementsOf(range(chunks.size()));
        assertThat(texts).filteredOn(TextDelta::getLast).containsExactly(texts.get(texts.size() - 1));
        assertThat(chunks).filteredOn(AudioChunk::getLast).containsExactly(chunks.get(chunks.size() - 1));
        assertThat(texts).noneMatch(TextDelta::getCancelled);
        int attempt = texts.get(0).getAttempt();
        assertThat(attempt).as("attempt = consumer-group generation, >= 1").isPositive();
        assertThat(texts).allMatch(t -> t.getAttempt() == attempt && t.getWorkerId().toString().equals("it-stream"));
        assertThat(chunks).allMatch(c -> c.getAttempt() == attempt && c.getSampleRate() == 16_000);
        assertThat(chunks.size()).as("Ω 4,8,16 over a %d-token reply gives several chunks", MAX_NEW_TOKENS).isGreaterThan(2);
        assertThat(chunks.stream().mapToInt(c -> c.getPcm().remaining()).sum()).isPositive();
        assertThat(w.metrics().tokens()).isGreaterThan(1);
        // And each chunk says how much of the reply text its speech completes: never less than the chunk before,
        // never more than the text sent before it, and the last chunk all of it
        int replyChars = texts.stream().mapToInt(d -> d.getText().length()).sum();
        assertThat(replyChars).as("the tiny model's reply text").isPositive();
        List<Integer> textChars = chunks.stream().map(AudioChunk::getTextChars).toList();
        assertThat(textChars).isSorted().allMatch(n -> n >= 0 && n <= replyChars);
        assertThat(textChars.get(textChars.size() - 1)).isEqualTo(replyChars);
        // And the last records carry the upstream stamps plus the worker's, in causal order
        TurnTimings t = chunks.get(chunks.size() - 1).getTimings();
        assertThat(t.getSpeechEndUs()).isEqualTo(SampleEvents.timings().getSpeechEndUs());
        assertThat(t.getEndOfTurnUs()).isEqualTo(SampleEvents.timings().getEndOfTurnUs());
        assertThat(t.getRequestProducedUs()).isEqualTo(producedUs);
        assertThat(t.getRequestConsumedUs()).as("the worker read the request after streams produced it")
                .isGreaterThanOrEqualTo(t.getRequestProducedUs());
        assertThat(t.getInferenceStartUs()).as("the turn started after the worker read it")
                .isGreaterThanOrEqualTo(t.getRequestConsumedUs());
        assertThat(t.getPrefillDoneUs()).isGreaterThanOrEqualTo(t.getInferenceStartUs());
        assertThat(t.getFirstUnitsUs()).isGreaterThanOrEqualTo(t.getPrefillDoneUs());
        assertThat(t.getFirstAudioUs()).isGreaterThanOrEqualTo(t.getFirstUnitsUs());
        assertThat(t.getFirstChunkProducedUs()).isGreaterThanOrEqualTo(t.getFirstAudioUs());
        assertThat(texts.get(texts.size() - 1).getTimings().getFirstChunkProducedUs()).isEqualTo(t.getFirstChunkProducedUs());
        // And the caller's words (the tiny checkpoint has a Whisper decoder) come once, keyed like the reply
        await("the caller text", WAIT, () -> !harness.callerTexts(callId).isEmpty());
        CallerText caller = harness.callerTexts(callId).get(0);
        assertThat(harness.callerTexts.stream().filter(r -> r.value().getCallId().toString().equals(callId)))
                .singleElement().satisfies(r -> assertThat(r.partition()).isEqualTo(partitionOf(callId)));
        assertThat(caller.getTurnId()).isEqualTo(1);
        assertThat(caller.getAttempt()).isEqualTo(attempt);
        assertThat(caller.getWorkerId().toString()).isEqualTo("it-stream");
        assertThat(caller.getAudioMs()).isEqualTo(600);
        assertThat(caller.getTokenCount()).isPositive();
        assertThat(caller.getLanguage().toString()).isNotEmpty();
        assertThat(caller.getDecodeStartUs()).as("the decoder starts after the first audio")
                .isGreaterThanOrEqualTo(t.getFirstAudioUs());
        assertThat(caller.getDecodeDoneUs()).isGreaterThanOrEqualTo(caller.getDecodeStartUs());
        assertThat(caller.getDecodeCpuUs()).isPositive();
        assertThat(caller.getTimings().getSpeechEndUs()).isEqualTo(SampleEvents.timings().getSpeechEndUs());
        assertThat(caller.getTimings().getRequestProducedUs()).isEqualTo(producedUs);
        assertThat(w.metrics().transcriptions(true)).isEqualTo(1);
        // And the request's offset is committed once the turn is done
        await("the commit of the finished turn", WAIT, () -> committedEqualsEnd(Topics.TURN_REQUESTS.name()));
    }

    @Test
    void shouldCancelWithinAStepAndEndWithCancelledLastDeltaWhenBargeInArrives() throws Exception {
        // Given a worker generating a reply
        Running w = startWorker("it-cancel");
        String callId = WorkerHarness.newCallId();
        harness.send(Topics.TURN_REQUESTS, callId, WorkerHarness.request(callId, 4, WorkerHarness.utterance(0.6, 2), List.of()));
        await("the first audio chunk", WAIT, () -> !harness.chunks(callId).isEmpty());
        // When the caller barges in
        harness.send(Topics.CALL_EVENTS, callId, WorkerHarness.bargeIn(callId, 4));
        await("the cancelled final delta", WAIT, () -> harness.turnEnded(callId, 4));
        Thread.sleep(300); // anything the worker wrongly produced after the cancel would arrive by now
        // Then the turn ends with one cancelled last TextDelta, cut short, and nothing follows it
        List<WorkerHarness.Received<TextDelta>> texts = harness.texts.stream()
                .filter(r -> r.value().getCallId().toString().equals(callId)).toList();
        WorkerHarness.Received<TextDelta> fin = texts.get(texts.size() - 1);
        assertThat(fin.value().getCancelled()).isTrue();
        assertThat(fin.value().getLast()).isTrue();
        assertThat(texts).extracting(r -> r.value().getSeq()).containsExactlyElementsOf(range(texts.size()));
        assertThat(texts.size()).as("cut short of the token limit").isLessThan(MAX_NEW_TOKENS);
        assertThat(harness.chunks(callId)).noneMatch(AudioChunk::getLast);
        List<WorkerHarness.Received<AudioChunk>> chunks = harness.chunks.stream()
                .filter(r -> r.value().getCallId().toString().equals(callId)).toList();
        assertThat(chunks).allMatch(c -> c.timestampMs() <= fin.timestampMs());
        assertThat(w.metrics().cancellations("barge-in")).isEqualTo(1);
        // And the caller's words still go out, once: the caller said them even though the reply was cut
        await("the cancelled turn's caller text", WAIT, () -> !harness.callerTexts(callId).isEmpty());
        assertThat(harness.callerTexts(callId)).singleElement()
                .satisfies(c -> assertThat(c.getTurnId()).isEqualTo(4))
                .satisfies(c -> assertThat(c.getAttempt()).isEqualTo(fin.value().getAttempt()))
                .satisfies(c -> assertThat(c.getTokenCount()).isPositive());
        await("the commit past the cancelled turn and the barge-in", WAIT,
                () -> committedEqualsEnd(Topics.TURN_REQUESTS.name()) && committedEqualsEnd(Topics.CALL_EVENTS.name()));
    }

    @Test
    void shouldDeadLetterAFailedTranscriptionCountItAndStillPlayTheWholeReply() {
        // Given a worker whose caller decoder (the model's own) fails on its third token of one call's utterance
        SpeechGenerator real = engine.generator();
        CallerDecoder decoder = CallerDecoder.of(real.model().transcriber().orElseThrow());
        java.util.concurrent.atomic.AtomicInteger starts = new java.util.concurrent.atomic.AtomicInteger();
        CallerDecoder failing = (encoderOut, language, maxTokens) -> {
            CallerDecoder.Run run = decoder.start(encoderOut, language, maxTokens);
            return starts.getAndIncrement() == 0 ? SteppedRun.failingAt(run, 3) : run;
        };
        OmniTurnEngine failingEngine = new OmniTurnEngine(new SpeechGenerator(real.model(), real.options(), failing));
        Running w = startWorker("it-bad-decoder", config, failingEngine);
        String badCall = WorkerHarness.newCallId();
        String goodCall = WorkerHarness.newCallId();
        // When a turn arrives (its transcription, the first this decoder starts, fails), then another one
        harness.send(Topics.TURN_REQUESTS, badCall, WorkerHarness.request(badCall, 1, WorkerHarness.utterance(0.9, 21), List.of()));
        await("the first turn's first audio", WAIT, () -> !harness.chunks(badCall).isEmpty());
        harness.send(Topics.TURN_REQUESTS, goodCall, WorkerHarness.request(goodCall, 1, WorkerHarness.utterance(0.5, 22), List.of()));
        await("both replies", WAIT, () -> harness.audioEnded(badCall, 1) && harness.audioEnded(goodCall, 1)
                && !deadLettersFor(badCall).isEmpty() && !harness.callerTexts(goodCall).isEmpty());
        // Then the failed one is a dead letter (stage transcribe, the request's bytes, the error), counted, with
        // no CallerText; its reply is complete and normal; the other call is transcribed
        assertThat(deadLettersFor(badCall)).singleElement().satisfies(d -> {
            assertThat(d.getStage().toString()).isEqualTo("transcribe");
            assertThat(d.getErrorMessage().toString()).contains("injected");
            assertThat(d.getSourceTopic().toString()).isEqualTo(Topics.TURN_REQUESTS.name());
        });
        assertThat(harness.callerTexts(badCall)).isEmpty();
        assertThat(w.metrics().transcriptions(false)).isEqualTo(1);
        assertThat(w.metrics().transcriptions(true)).isEqualTo(1);
        assertThat(w.metrics().deadLetters("transcription")).isEqualTo(1);
        List<TextDelta> texts = harness.texts(badCall);
        assertThat(texts).noneMatch(TextDelta::getCancelled);
        assertThat(texts.get(texts.size() - 1).getLast()).isTrue();
        List<AudioChunk> chunks = harness.chunks(badCall);
        assertThat(chunks).extracting(AudioChunk::getSeq).containsExactlyElementsOf(range(chunks.size()));
        assertThat(chunks.get(chunks.size() - 1).getTextChars())
                .isEqualTo(texts.stream().mapToInt(d -> d.getText().length()).sum());
        await("the commit past both", WAIT, () -> committedEqualsEnd(Topics.TURN_REQUESTS.name()));
    }

    @Test
    void shouldPublishNoCallerTextWhenTranscriptionIsOff() {
        SpeechGenerator real = engine.generator();
        OmniTurnEngine silent = new OmniTurnEngine(new SpeechGenerator(real.model(),
                real.options().withTranscription(TranscriptionOptions.off()), CallerDecoder.of(real.model().transcriber().orElseThrow())));
        startWorker("it-transcription-off", config, silent);
        String callId = WorkerHarness.newCallId();
        harness.send(Topics.TURN_REQUESTS, callId, WorkerHarness.request(callId, 1, WorkerHarness.utterance(0.4, 23), List.of()));
        await("the reply", WAIT, () -> harness.turnEnded(callId, 1) && harness.audioEnded(callId, 1));
        await("the commit", WAIT, () -> committedEqualsEnd(Topics.TURN_REQUESTS.name()));
        assertThat(harness.callerTexts(callId)).isEmpty();
        assertThat(harness.chunks(callId).get(harness.chunks(callId).size() - 1).getTextChars())
                .isEqualTo(harness.texts(callId).stream().mapToInt(d -> d.getText().length()).sum());
    }

    @Test
    void shouldNeverRunATurnWhoseBargeInOrCallEndedWasReadFirst() {
        // Given a BargeIn for turn 9 of one call and a CallEnded of another, both before their requests
        Running w = startWorker("it-early-cancel");
        String bargedCall = WorkerHarness.newCallId();
        String endedCall = WorkerHarness.newCallId();
        harness.send(Topics.CALL_EVENTS, bargedCall, WorkerHarness.bargeIn(bargedCall, 9));
        harness.send(Topics.CALL_EVENTS, endedCall, SampleEvents.callEnded(endedCall));
        await("both call events handled", WAIT, () -> committedEqualsEnd(Topics.CALL_EVENTS.name()));
        // When their TurnRequests arrive
        harness.send(Topics.TURN_REQUESTS, bargedCall, WorkerHarness.request(bargedCall, 9, WorkerHarness.utterance(0.3, 8), List.of()));
        harness.send(Topics.TURN_REQUESTS, endedCall, WorkerHarness.request(endedCall, 1, WorkerHarness.utterance(0.3, 9), List.of()));
        // Then each ends with one cancelled last TextDelta and no audio, without any model work
        await("both closed", WAIT, () -> harness.turnEnded(bargedCall, 9) && harness.turnEnded(endedCall, 1));
        for (String callId : List.of(bargedCall, endedCall)) {
            assertThat(harness.texts(callId)).singleElement()
                    .matches(t -> t.getSeq() == 0 && t.getLast() && t.getCancelled() && t.getText().toString().isEmpty());
            assertThat(harness.chunks(callId)).isEmpty();
        }
        assertThat(w.metrics().tokens()).isZero();
        assertThat(w.metrics().cancellations("already-cancelled")).isEqualTo(2);
        await("the commit past both requests", WAIT, () -> committedEqualsEnd(Topics.TURN_REQUESTS.name()));
    }

    @Test
    void shouldDeadLetterBadRequestsAndServeTheNextGoodOneWhenInputIsBroken() {
        // Given a running worker
        Running w = startWorker("it-bad");
        String callId = WorkerHarness.newCallId();
        byte[] garbage = {0, 0, 0, 0, 1, 42, 42, 42};
        byte[] noAudio = harness.bytes(Topics.TURN_REQUESTS, WorkerHarness.request(callId, 1, new byte[0], List.of()));
        byte[] narrowband = harness.bytes(Topics.TURN_REQUESTS, TurnRequest.newBuilder(
                WorkerHarness.request(callId, 1, WorkerHarness.utterance(0.2, 3), List.of())).setSampleRate(8000).build());
        byte[] oversized = harness.bytes(Topics.TURN_REQUESTS, WorkerHarness.request(callId, 1, new byte[6 * 32_000], List.of()));
        // When four bad requests arrive, then a good one for the same call
        harness.sendRaw(Topics.TURN_REQUESTS, callId, garbage);
        harness.sendRaw(Topics.TURN_REQUESTS, callId, noAudio);
        harness.sendRaw(Topics.TURN_REQUESTS, callId, narrowband);
        harness.sendRaw(Topics.TURN_REQUESTS, callId, oversized);
        harness.send(Topics.TURN_REQUESTS, callId, WorkerHarness.request(callId, 2, WorkerHarness.utterance(0.4, 4), List.of()));
        // Then each bad one is a dead letter with its original bytes and the error, counted by reason
        await("four dead letters", WAIT, () -> deadLettersFor(callId).size() == 4);
        List<DeadLetter> dls = deadLettersFor(callId);
        assertThat(dls).extracting(d -> bytes(d.getValue())).containsExactly(garbage, noAudio, narrowband, oversized);
        assertThat(dls).allMatch(d -> d.getSourceTopic().toString().equals(Topics.TURN_REQUESTS.name()) && d.getOffset() >= 0);
        assertThat(dls).extracting(d -> d.getStage().toString()).containsExactly("deserialize", "worker", "worker", "worker");
        assertThat(dls.get(2).getErrorMessage().toString()).contains("8000 Hz");
        assertThat(dls.get(3).getErrorMessage().toString()).contains("exceeds the cap");
        assertThat(w.metrics().deadLetters("undecodable")).isEqualTo(1);
        assertThat(w.metrics().deadLetters("no-audio")).isEqualTo(1);
        assertThat(w.metrics().deadLetters("sample-rate")).isEqualTo(1);
        assertThat(w.metrics().deadLetters("oversized")).isEqualTo(1);
        // And the good request after them is served
        await("the good turn", WAIT, () -> harness.turnEnded(callId, 2) && harness.audioEnded(callId, 2));
        assertThat(harness.texts(callId)).allMatch(t -> t.getTurnId() == 2);
        await("the commit past all five", WAIT, () -> committedEqualsEnd(Topics.TURN_REQUESTS.name()));
    }

    @Test
    void shouldReuseTheCallsKvCacheOnItsSecondTurnAndMatchAColdRun() {
        // Given a call whose first turn completed on this worker
        Running w = startWorker("it-cache");
        String callId = WorkerHarness.newCallId();
        harness.send(Topics.TURN_REQUESTS, callId, WorkerHarness.request(callId, 1, WorkerHarness.utterance(0.5, 5), List.of()));
        await("turn 1", WAIT, () -> harness.turnEnded(callId, 1) && harness.audioEnded(callId, 1));
        await("turn 1's cache kept", WAIT, () -> w.worker().cache().contains(callId));
        String reply1 = text(harness.texts(callId), 1);
        List<ConversationTurn> history = List.of(ConversationTurn.newBuilder().setTurnId(1).setUserText("hello there")
                .setAssistantText(reply1).build());
        byte[] audio2 = WorkerHarness.utterance(0.5, 6);
        long hitsBefore = w.metrics().kvHits();
        // When its second turn arrives, and the same turn (same audio and history) of a call never seen
        harness.send(Topics.TURN_REQUESTS, callId, WorkerHarness.request(callId, 2, audio2, history));
        await("turn 2", WAIT, () -> harness.turnEnded(callId, 2) && harness.audioEnded(callId, 2));
        String coldCall = WorkerHarness.newCallId();
        harness.send(Topics.TURN_REQUESTS, coldCall, WorkerHarness.request(coldCall, 2, audio2, history));
        await("the cold run", WAIT, () -> harness.turnEnded(coldCall, 2) && harness.audioEnded(coldCall, 2));
        // Then the second turn hit the cache, and its output equals the cold run's
        assertThat(w.metrics().kvHits()).isEqualTo(hitsBefore + 1);
        assertThat(text(harness.texts(callId), 2)).isEqualTo(text(harness.texts(coldCall), 2)).isNotEmpty();
        assertThat(audio(harness.chunks(callId), 2)).isEqualTo(audio(harness.chunks(coldCall), 2));
        // And CallEnded drops the call's cache
        harness.send(Topics.CALL_EVENTS, callId, SampleEvents.callEnded(callId));
        await("the cache dropped on CallEnded", WAIT, () -> !w.worker().cache().contains(callId));
    }

    @Test
    void shouldRunARedeliveredRequestAsAHigherAttemptWhenTheWorkerStopsMidTurn() throws Exception {
        // Given a worker that stops while generating a turn (its offset is not committed)
        Running first = startWorker("it-first");
        String callId = WorkerHarness.newCallId();
        harness.send(Topics.TURN_REQUESTS, callId, WorkerHarness.request(callId, 1, WorkerHarness.utterance(0.6, 7), List.of()));
        await("the first attempt's first delta", WAIT, () -> !harness.texts(callId).isEmpty());
        first.stop();
        workers.remove(first);
        int firstAttempt = harness.texts(callId).get(0).getAttempt();
        assertThat(harness.turnEnded(callId, 1)).as("stopped before the end").isFalse();
        // When another worker takes the partition over
        startWorker("it-second");
        // Then it runs the request again, as a higher attempt, to the end
        await("the second attempt's end", WAIT, () -> harness.texts(callId).stream().anyMatch(t -> t.getLast() && t.getAttempt() != firstAttempt));
        Map<Integer, List<TextDelta>> byAttempt = harness.texts(callId).stream().collect(Collectors.groupingBy(TextDelta::getAttempt));
        assertThat(byAttempt).hasSize(2);
        int second = byAttempt.keySet().stream().filter(a -> a != firstAttempt).findFirst().orElseThrow();
        assertThat(second).isGreaterThan(firstAttempt);
        assertThat(byAttempt.get(second)).extracting(TextDelta::getSeq).containsExactlyElementsOf(range(byAttempt.get(second).size()));
        assertThat(byAttempt.get(second).get(0).getWorkerId().toString()).isEqualTo("it-second");
    }

    @Test
    void shouldKeepGeneratingTheTurnsOfPartitionsThatStayWhenASecondWorkerJoins() throws Exception {
        // Given one worker holding both partitions, generating a long turn on each (an engine of its own: the
        // token limit is the engine's, and the class's engine stops at 64 tokens, before a rebalance ends)
        // (kv-cache-bytes holds the CTC decoder's pool too: 4 slots of 2001 x 25 frames, 147 MiB at the tiny shapes)
        WorkerConfig longTurns = config.withLimits(2000, Duration.ofSeconds(5), 256L << 20);
        try (OmniTurnEngine longEngine = OmniTurnEngine.load(longTurns)) {
            try {
                scaleOut(longTurns, longEngine);
            } finally {
                stopWorkers();   // before their engine closes
                workers.clear();
            }
        }
    }

    private void scaleOut(WorkerConfig longTurns, OmniTurnEngine longEngine) throws Exception {
        Running solo = startWorker("it-solo", longTurns, longEngine);
        String stays = callIdOn(0);
        String moves = callIdOn(1);
        for (String callId : List.of(stays, moves)) {
            harness.send(Topics.TURN_REQUESTS, callId, WorkerHarness.request(callId, 1, WorkerHarness.utterance(0.6, 11), List.of()));
        }
        await("both turns streaming", WAIT, () -> !harness.texts(stays).isEmpty() && !harness.texts(moves).isEmpty());
        int soloAttempt = harness.texts(stays).get(0).getAttempt();

        // When a second worker joins the group
        Running joiner = startWorker("it-joiner", longTurns, longEngine);
        await("the moved turn redone by the joiner", WAIT, () -> harness.texts(moves).stream()
                .anyMatch(t -> t.getWorkerId().toString().equals("it-joiner")));
        List<TextDelta> atTakeover = harness.texts(stays);
        assertThat(atTakeover).as("the kept turn outlasts the rebalance (%d deltas so far)", atTakeover.size())
                .noneMatch(TextDelta::getLast);
        // (a BargeIn for each call, read where each partition now lives: the moved one on the joiner)
        for (String callId : List.of(stays, moves)) {
            harness.send(Topics.CALL_EVENTS, callId, WorkerHarness.bargeIn(callId, 1));
        }
        await("both turns ended", WAIT, () -> harness.turnEnded(stays, 1) && harness.turnEnded(moves, 1));

        // Then the turn on the partition that stayed was never restarted: one attempt, one worker, contiguous
        // seq from before the rebalance to its end (cancelled by the BargeIn, or finished just before it)
        List<TextDelta> kept = harness.texts(stays);
        assertThat(kept.size()).isGreaterThan(atTakeover.size());
        assertThat(kept).allMatch(t -> t.getAttempt() == soloAttempt && t.getWorkerId().toString().equals("it-solo"));
        assertThat(kept).extracting(TextDelta::getSeq).containsExactlyElementsOf(range(kept.size()));
        // And the moved turn ran on the joiner as a higher attempt, and the joiner, which now reads that
        // partition of call-events too, cancelled it
        List<TextDelta> moved = harness.texts(moves).stream()
                .filter(t -> t.getWorkerId().toString().equals("it-joiner")).toList();
        assertThat(moved.get(0).getAttempt()).isGreaterThan(soloAttempt);
        assertThat(moved.get(moved.size() - 1).getLast()).isTrue();
        assertThat(moved.get(moved.size() - 1).getCancelled()).isTrue();
        assertThat(solo.metrics().tokens()).isPositive();
        assertThat(joiner.metrics().tokens()).isPositive();
        // And both cancelled turns finish their caller transcripts and are committed (nothing left for the next
        // test's worker in this group to redo)
        await("both turns committed", WAIT, () -> committedEqualsEnd(Topics.TURN_REQUESTS.name()));
    }

    @Test
    void shouldFinishTheTurnItRunsButTakeNoNewOneWhenDrained() throws Exception {
        // Given a worker generating a turn
        Running w = startWorker("it-drain");
        String running = WorkerHarness.newCallId();
        harness.send(Topics.TURN_REQUESTS, running, WorkerHarness.request(running, 1, WorkerHarness.utterance(0.6, 3), List.of()));
        await("the turn's first delta", WAIT, () -> !harness.texts(running).isEmpty());
        assertThat(harness.turnEnded(running, 1)).as("still generating when the drain begins").isFalse();

        // When it is drained (a rollout's SIGTERM) and a new request arrives meanwhile
        Thread drain = new Thread(() -> w.worker().drainAndClose(Duration.ofSeconds(30)), "drain");
        drain.start();
        await("the drain to begin", WAIT, () -> w.worker().isDraining());
        String late = WorkerHarness.newCallId();
        harness.send(Topics.TURN_REQUESTS, late, WorkerHarness.request(late, 1, WorkerHarness.utterance(0.6, 4), List.of()));
        drain.join(WAIT.toMillis());
        workers.remove(w);

        // Then the running turn was finished, not cancelled, by this worker in one attempt
        assertThat(drain.isAlive()).isFalse();
        List<TextDelta> texts = harness.texts(running);
        assertThat(texts.get(texts.size() - 1).getLast()).isTrue();
        assertThat(texts.get(texts.size() - 1).getCancelled()).isFalse();
        assertThat(texts).extracting(TextDelta::getAttempt).containsOnly(texts.get(0).getAttempt());
        assertThat(harness.audioEnded(running, 1)).isTrue();
        // And the request that came during the drain was left for the next owner: not run, not committed
        assertThat(harness.texts(late)).isEmpty();
        startWorker("it-after-drain");
        await("the late request answered by the next worker", WAIT, () -> harness.turnEnded(late, 1));
        assertThat(harness.texts(late)).allMatch(t -> t.getWorkerId().toString().equals("it-after-drain"));
    }

    // ---- helpers ----

    /** A fresh call ID that Kafka's default partitioner puts on {@code partition} of the harness' 2. */
    private static String callIdOn(int partition) {
        while (true) {
            String id = WorkerHarness.newCallId();
            byte[] key = id.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            if (org.apache.kafka.common.utils.Utils.toPositive(org.apache.kafka.common.utils.Utils.murmur2(key)) % 2 == partition) {
                return id;
            }
        }
    }

    /** The partition Kafka's default partitioner gives {@code callId} among the harness' 2. */
    private static int partitionOf(String callId) {
        byte[] key = callId.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        return org.apache.kafka.common.utils.Utils.toPositive(org.apache.kafka.common.utils.Utils.murmur2(key)) % 2;
    }

    private static List<Integer> range(int n) {
        return IntStream.range(0, n).boxed().toList();
    }

    private static List<DeadLetter> deadLettersFor(String callId) {
        return harness.deadLetters.stream().map(WorkerHarness.Received::value)
                .filter(d -> d.getKey() != null && new String(bytes(d.getKey())).equals(callId)).toList();
    }

    private static byte[] bytes(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        byte[] out = new byte[d.remaining()];
        d.get(out);
        return out;
    }

    private static String text(List<TextDelta> deltas, int turnId) {
        return deltas.stream().filter(t -> t.getTurnId() == turnId).map(t -> t.getText().toString()).collect(Collectors.joining());
    }

    private static byte[] audio(List<AudioChunk> chunks, int turnId) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        chunks.stream().filter(c -> c.getTurnId() == turnId).forEach(c -> out.writeBytes(bytes(c.getPcm())));
        return out.toByteArray();
    }

    /** True when the worker group's committed offsets equal the end offsets on every partition of the topic. */
    private static boolean committedEqualsEnd(String topic) {
        try (Admin admin = Admin.create(harness.kafka.settings().admin())) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(config.groupId())
                    .partitionsToOffsetAndMetadata().get();
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (int p = 0; p < 2; p++) {
                latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
            }
            var ends = admin.listOffsets(latest).all().get();
            return ends.entrySet().stream().allMatch(e -> e.getValue().offset() == 0
                    || (committed.get(e.getKey()) != null && committed.get(e.getKey()).offset() == e.getValue().offset()));
        } catch (Exception e) {
            return false;
        }
    }
}
