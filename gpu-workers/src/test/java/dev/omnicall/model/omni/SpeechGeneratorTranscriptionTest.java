package dev.omnicall.model.omni;

import dev.omnicall.model.TinyModels;
import dev.omnicall.model.Transcriber;
import dev.omnicall.model.Transcription;
import dev.omnicall.model.stream.AudioPiece;
import dev.omnicall.model.stream.CallerDecoder;
import dev.omnicall.model.stream.CallerTranscript;
import dev.omnicall.model.stream.TranscriptionOptions;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Caller transcription interleaved with the reply, on the tiny checkpoint (random weights, so the caller text is
 * gibberish but deterministic): the interleaved transcript equals transcribing the same encoder output alone; the
 * reply is untouched (first audio at the same step with the same bytes; no decoder work before every turn's first
 * audio); one transcript per turn; a cancelled turn's transcript can still be finished; a decoder failure gives a
 * failed transcript and a complete reply; each chunk's textChars is the text emitted up to its step.
 */
class SpeechGeneratorTranscriptionTest {
    private static final int REPLY_TOKENS = 24;
    private static final int CALLER_TOKENS = 20;
    private static final GenerationOptions BASE = GenerationOptions.defaults().withMaxNewTokens(REPLY_TOKENS)
            .withSchedule(ChunkSchedule.parse("10,20"));
    private static final TranscriptionOptions ON = new TranscriptionOptions(true, null, CALLER_TOKENS, 2);

    private final OmniModel model = TinyModels.model();
    private final Transcriber transcriber = model.transcriber().orElseThrow();
    private final float[][] inputs = {TinyModels.testAudio(1.0, 1), TinyModels.testAudio(0.7, 2),
        TinyModels.testAudio(1.3, 3)};

    /** What one turn produced, step by step. */
    static final class Trace {
        final List<String> texts = new ArrayList<>();
        final List<AudioPiece> pieces = new ArrayList<>();
        final List<Integer> pieceSteps = new ArrayList<>();
        final List<CallerTranscript> callerTexts = new ArrayList<>();
        final List<Integer> callerSteps = new ArrayList<>();
        int steps;

        void add(StepResult r) {
            texts.add(r.text());
            for (AudioPiece p : r.audio()) {
                pieces.add(p);
                pieceSteps.add(steps);
            }
            if (r.callerText() != null) {
                callerTexts.add(r.callerText());
                callerSteps.add(steps);
            }
            steps++;
        }

        int firstAudioStep() {
            for (int i = 0; i < pieces.size(); i++) {
                if (pieces.get(i).pcm().length > 0) {
                    return pieceSteps.get(i);
                }
            }
            return -1;
        }

        byte[] pcm() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            pieces.forEach(p -> out.writeBytes(p.pcmBytes()));
            return out.toByteArray();
        }
    }

    /** Runs the inputs together in one batch (stepAll) to the end. */
    private List<Trace> runBatch(SpeechGenerator generator) {
        List<TurnGenerator> turns = new ArrayList<>();
        List<Trace> traces = new ArrayList<>();
        try {
            for (float[] in : inputs) {
                turns.add(generator.start(in, List.of(), null));
                traces.add(new Trace());
            }
            while (turns.stream().anyMatch(t -> !t.isDone())) {
                List<StepResult> rs = generator.stepAll(turns);
                for (int i = 0; i < turns.size(); i++) {
                    if (rs.get(i).tokenId() >= 0 || rs.get(i).callerText() != null) {
                        traces.get(i).add(rs.get(i));
                    }
                }
            }
            // a reply that ended while another turn still waited for its first audio left its transcript pending
            for (int i = 0; i < turns.size(); i++) {
                CallerTranscript pending = turns.get(i).advanceCallerText(Integer.MAX_VALUE);
                if (pending != null) {
                    traces.get(i).callerTexts.add(pending);
                    traces.get(i).callerSteps.add(traces.get(i).steps);
                }
            }
        } finally {
            turns.forEach(TurnGenerator::close);
        }
        return traces;
    }

    /** The slow, obvious reference: the model's transcriber on the same utterance's encoder output, alone. */
    private Transcription transcribeAlone(float[] audio) {
        NDArray encoderOut = model.encodeAudio(audio);
        Transcription t = transcriber.start(encoderOut, null, CALLER_TOKENS);
        while (!t.step()) {
            // one token per call
        }
        t.close();
        encoderOut.close();
        return t;
    }

    @Test
    void shouldTranscribeEachTurnLikeItsEncoderOutputTranscribedAlone() {
        // Given three turns decoding together with transcription on
        List<Trace> traces = runBatch(new SpeechGenerator(model, BASE.withTranscription(ON), CallerDecoder.of(transcriber)));
        // Then each hands out exactly one caller transcript, equal to the reference on its own utterance
        for (int i = 0; i < inputs.length; i++) {
            Transcription reference = transcribeAlone(inputs[i]);
            assertThat(traces.get(i).callerTexts).as("turn %d", i).hasSize(1);
            CallerTranscript got = traces.get(i).callerTexts.get(0);
            assertThat(got.failed()).isFalse();
            assertThat(got.text()).isEqualTo(reference.text());
            assertThat(got.language()).isEqualTo(reference.language());
            assertThat(got.tokenCount()).isEqualTo(reference.tokenCount()).isPositive();
            assertThat(got.truncated()).isEqualTo(reference.truncated());
            assertThat(got.decodeDoneUs()).isGreaterThanOrEqualTo(got.decodeStartUs());
            assertThat(got.decodeCpuUs()).isPositive().isLessThanOrEqualTo(got.decodeDoneUs() - got.decodeStartUs());
            assertThat(traces.get(i).callerSteps.get(0)).as("in a step: the turns started together")
                    .isLessThanOrEqualTo(traces.get(i).steps - 1);
        }
    }

    @Test
    void shouldLeaveTheReplyAndItsFirstAudioStepUntouchedAndDecodeNothingBeforeEveryTurnHasAudio() {
        // Given a decoder that records at which reply step it was first called
        AtomicInteger replySteps = new AtomicInteger();
        AtomicInteger firstDecoderCallAtStep = new AtomicInteger(-1);
        CallerDecoder real = CallerDecoder.of(transcriber);
        CallerDecoder watched = (enc, lang, max) -> {
            firstDecoderCallAtStep.compareAndSet(-1, replySteps.get());
            return real.start(enc, lang, max);
        };
        SpeechGenerator off = new SpeechGenerator(model, BASE);
        SpeechGenerator on = new SpeechGenerator(model, BASE.withTranscription(ON), watched);
        // When the same batch runs with transcription off and on
        List<Trace> without = runBatch(off);
        List<Trace> with = new ArrayList<>();
        List<TurnGenerator> turns = new ArrayList<>();
        for (float[] in : inputs) {
            turns.add(on.start(in, List.of(), null));
            with.add(new Trace());
        }
        int lastFirstAudio = 0;
        while (turns.stream().anyMatch(t -> !t.isDone())) {
            List<StepResult> rs = on.stepAll(turns);
            for (int i = 0; i < turns.size(); i++) {
                if (rs.get(i).tokenId() >= 0 || rs.get(i).callerText() != null) {
                    with.get(i).add(rs.get(i));
                }
            }
            replySteps.incrementAndGet();
        }
        turns.forEach(TurnGenerator::close);
        // Then every turn's first audio comes at the same step with the same bytes, and so does all the rest
        for (int i = 0; i < inputs.length; i++) {
            assertThat(with.get(i).firstAudioStep()).as("turn %d", i).isEqualTo(without.get(i).firstAudioStep())
                    .isNotNegative();
            assertThat(with.get(i).pcm()).isEqualTo(without.get(i).pcm());
            assertThat(with.get(i).texts).isEqualTo(without.get(i).texts);
            assertThat(with.get(i).pieceSteps).isEqualTo(without.get(i).pieceSteps);
            lastFirstAudio = Math.max(lastFirstAudio, with.get(i).firstAudioStep());
        }
        // And the decoder started only in the step after which every turn had its first audio
        assertThat(firstDecoderCallAtStep.get()).isEqualTo(lastFirstAudio);
    }

    @Test
    void shouldLeaveAnEndedReplysTranscriptPendingWhileAnotherTurnWaitsForItsFirstAudio() {
        // Given a one-token reply (done at its first step) batched with a newcomer that has no audio yet
        SpeechGenerator generator = new SpeechGenerator(model, BASE.withMaxNewTokens(1).withTranscription(ON),
                CallerDecoder.of(transcriber));
        SpeechGenerator longer = new SpeechGenerator(model, BASE.withTranscription(ON), CallerDecoder.of(transcriber));
        try (TurnGenerator shortTurn = generator.start(inputs[0], List.of(), null);
                TurnGenerator newcomer = longer.start(inputs[1], List.of(), null)) {
            // When one step runs over both (the newcomer's first chunk needs more than one step)
            List<StepResult> rs = generator.stepAll(List.of(shortTurn, newcomer));
            assertThat(newcomer.hasFirstAudio()).isFalse();
            // Then the short reply is done, its transcript not decoded yet but pending, and it can be finished later
            assertThat(rs.get(0).done()).isTrue();
            assertThat(rs.get(0).callerText()).isNull();
            assertThat(shortTurn.hasCallerTextPending()).isTrue();
            CallerTranscript text = shortTurn.advanceCallerText(Integer.MAX_VALUE);
            assertThat(text.text()).isEqualTo(transcribeAlone(inputs[0]).text());
            assertThat(shortTurn.hasCallerTextPending()).isFalse();
        }
    }

    @Test
    void shouldStillTranscribeACancelledTurnWhenAskedAndOnlyOnce() {
        SpeechGenerator generator = new SpeechGenerator(model, BASE.withTranscription(ON), CallerDecoder.of(transcriber));
        try (TurnGenerator turn = generator.start(inputs[0], List.of(), null)) {
            // Given a turn cut by a barge-in right after its first audio, its transcript unfinished
            while (!turn.hasFirstAudio()) {
                assertThat(turn.step().callerText()).isNull();
            }
            turn.cancel();
            assertThat(turn.hasCallerTextPending()).isTrue();
            // When the worker finishes it in steps
            CallerTranscript text = null;
            int calls = 0;
            while (text == null && calls++ < CALLER_TOKENS + 8) {
                text = turn.advanceCallerText(2);
            }
            // Then it equals the transcript of the utterance alone, and is handed out once
            assertThat(text).isNotNull();
            assertThat(text.text()).isEqualTo(transcribeAlone(inputs[0]).text());
            assertThat(turn.hasCallerTextPending()).isFalse();
            assertThat(turn.advanceCallerText(Integer.MAX_VALUE)).isNull();
            assertThat(turn.step().callerText()).isNull();
        }
    }

    @Test
    void shouldGiveAFailedTranscriptAndACompleteReplyWhenTheDecoderFailsMidUtterance() {
        // Given the real decoder failing on its third token of the second utterance
        CallerDecoder real = CallerDecoder.of(transcriber);
        AtomicInteger starts = new AtomicInteger();
        CallerDecoder failing = (enc, lang, max) -> {
            CallerDecoder.Run run = real.start(enc, lang, max);
            if (starts.getAndIncrement() != 1) {
                return run;
            }
            return SteppedRun.failingAt(run, 3);
        };
        // When the batch runs
        List<Trace> with = runBatch(new SpeechGenerator(model, BASE.withTranscription(ON), failing));
        List<Trace> without = runBatch(new SpeechGenerator(model, BASE));
        // Then exactly one turn's transcript failed, with the error, and every reply is complete and unchanged
        List<CallerTranscript> all = with.stream().flatMap(t -> t.callerTexts.stream()).toList();
        assertThat(all).hasSize(inputs.length);
        assertThat(all).filteredOn(CallerTranscript::failed).singleElement()
                .satisfies(c -> assertThat(c.error()).hasMessageContaining("injected"))
                .satisfies(c -> assertThat(c.tokenCount()).isEqualTo(2));
        for (int i = 0; i < inputs.length; i++) {
            assertThat(with.get(i).pcm()).isEqualTo(without.get(i).pcm());
            assertThat(with.get(i).pieces.get(with.get(i).pieces.size() - 1).last()).isTrue();
        }
    }

    @Test
    void shouldDecodeNothingWhileTheDriverHoldsTheDecoderAndLeaveAnEndedReplysRestToTheTailWhenSliced() {
        // Given a decoder that counts its tokens, and three turns the worker's scheduler drives: it holds the decoder
        // for the first steps after every turn has its first audio (a newcomer queued), then lets it run in slices
        CallerDecoder real = CallerDecoder.of(transcriber);
        AtomicInteger decoderTokens = new AtomicInteger();
        CallerDecoder counted = (enc, lang, max) -> new SteppedRun(real.start(enc, lang, max), n -> decoderTokens.incrementAndGet());
        SpeechGenerator generator = new SpeechGenerator(model, BASE.withTranscription(ON), counted);
        List<TurnGenerator> turns = new ArrayList<>();
        List<Trace> traces = new ArrayList<>();
        for (float[] in : inputs) {
            turns.add(generator.start(in, List.of(), null));
            traces.add(new Trace());
        }
        try {
            int heldAfterAudio = 0;
            while (turns.stream().anyMatch(t -> !t.isDone())) {
                boolean everyTurnSpeaks = turns.stream().allMatch(t -> t.isDone() || t.hasFirstAudio());
                boolean hold = !everyTurnSpeaks || heldAfterAudio < 8;
                if (everyTurnSpeaks && hold) {
                    heldAfterAudio++;
                }
                int before = decoderTokens.get();
                List<StepResult> rs = generator.stepAll(turns, hold ? SpeechGenerator.DecoderWork.HOLD
                        : SpeechGenerator.DecoderWork.SLICE);
                // When the decoder is held, no decoder token runs in the step, whatever the turns' state
                if (hold) {
                    assertThat(decoderTokens.get()).as("decoder tokens in a held step").isEqualTo(before);
                } else {
                    // and when it runs, each running turn decodes at most its step's share, a reply that ends included
                    assertThat(decoderTokens.get() - before).as("decoder tokens in a sliced step")
                            .isLessThanOrEqualTo(ON.tokensPerStep() * turns.size());
                }
                for (int i = 0; i < turns.size(); i++) {
                    if (rs.get(i).tokenId() >= 0 || rs.get(i).callerText() != null) {
                        traces.get(i).add(rs.get(i));
                    }
                }
            }
            // Then the rest of each transcript comes from the driver's tail, a slice at a time, and equals the
            // transcript of the same encoder output decoded alone (the slow, obvious reference)
            int fromTail = 0;
            for (int i = 0; i < turns.size(); i++) {
                CallerTranscript text = traces.get(i).callerTexts.isEmpty() ? null : traces.get(i).callerTexts.get(0);
                fromTail += text == null ? 1 : 0;
                for (int slice = 0; text == null && slice < CALLER_TOKENS + 8; slice++) {
                    int before = decoderTokens.get();
                    text = turns.get(i).advanceCallerText(4);
                    assertThat(decoderTokens.get() - before).isLessThanOrEqualTo(4);
                }
                assertThat(text).as("turn %d's transcript", i).isNotNull();
                assertThat(text.text()).isEqualTo(transcribeAlone(inputs[i]).text());
                assertThat(turns.get(i).hasCallerTextPending()).isFalse();
            }
            assertThat(fromTail).as("turns whose ended reply left its transcript to the tail").isPositive();
        } finally {
            turns.forEach(TurnGenerator::close);
        }
    }

    @Test
    void shouldLetTheDriverFinishARunningTurnsTranscriptByItsTokensLeftWithTheReplyUnchanged() {
        // Given a turn the worker holds the decoder for (a newcomer waits), and the same turn without transcription
        Trace plain = new Trace();
        try (TurnGenerator t = new SpeechGenerator(model, BASE).start(inputs[0], List.of(), null)) {
            while (!t.isDone()) {
                plain.add(t.step());
            }
        }
        SpeechGenerator generator = new SpeechGenerator(model, BASE.withTranscription(ON), CallerDecoder.of(transcriber));
        Trace trace = new Trace();
        List<TurnGenerator> one = new ArrayList<>();
        try (TurnGenerator turn = generator.start(inputs[0], List.of(), null)) {
            one.add(turn);
            assertThat(turn.callerTokensLeft()).as("nothing decoded yet: the cap").isEqualTo(CALLER_TOKENS);
            // When the driver, past the transcript's half-way mark, advances it 4 tokens after each held step of the
            // running reply (as the scheduler's delay bound does)
            CallerTranscript text = null;
            int left = turn.callerTokensLeft();
            while (!turn.isDone()) {
                StepResult r = generator.stepAll(one, SpeechGenerator.DecoderWork.HOLD).get(0);
                assertThat(r.callerText()).as("the step itself hands out no transcript").isNull();
                trace.add(r);
                if (turn.hasFirstAudio() && text == null) {
                    text = turn.advanceCallerText(4);
                    int now = turn.callerTokensLeft();
                    // Then the engine's bound on what is left falls by at most the slice, to 0 once handed out
                    assertThat(now).isLessThan(left).isGreaterThanOrEqualTo(text == null ? left - 4 : 0);
                    if (text != null) {
                        assertThat(now).isZero();
                    }
                    left = now;
                }
            }
            // And the transcript equals the utterance decoded alone, handed out once, before the reply ended
            assertThat(text).isNotNull();
            assertThat(text.text()).isEqualTo(transcribeAlone(inputs[0]).text());
            assertThat(turn.hasCallerTextPending()).isFalse();
            assertThat(turn.advanceCallerText(Integer.MAX_VALUE)).isNull();
            // And the reply's text and audio are those of the turn without transcription
            assertThat(trace.texts).isEqualTo(plain.texts);
            assertThat(trace.pcm()).isEqualTo(plain.pcm());
            assertThat(trace.firstAudioStep()).isEqualTo(plain.firstAudioStep());
        }
    }

    @Test
    void shouldCountInEachChunkTheTextEmittedUpToItsStep() {
        List<Trace> traces = runBatch(new SpeechGenerator(model, BASE.withTranscription(ON), CallerDecoder.of(transcriber)));
        for (Trace t : traces) {
            int previous = 0;
            for (int k = 0; k < t.pieces.size(); k++) {
                int step = t.pieceSteps.get(k);
                int emitted = t.texts.subList(0, step + 1).stream().mapToInt(String::length).sum();
                assertThat(t.pieces.get(k).textChars()).isEqualTo(emitted).isGreaterThanOrEqualTo(previous);
                previous = emitted;
            }
            int whole = t.texts.stream().mapToInt(String::length).sum();
            assertThat(t.pieces.get(t.pieces.size() - 1).textChars()).isEqualTo(whole).isPositive();
        }
    }
}
