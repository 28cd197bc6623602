package dev.omnicall.worker;

import dev.omnicall.kafka.Clock;
import dev.omnicall.worker.engine.ConversationSnapshot;
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.StepOutput;
import dev.omnicall.worker.engine.TurnEngine;
import dev.omnicall.worker.engine.TurnInput;

import java.util.ArrayList;
import java.util.List;

/**
 * A scripted engine for the scheduler's unit tests (the ITs run the real model): every session says
 * "t0 t1 ..." one token per step, one unit per step, an audio piece every {@code unitsPerChunk} steps, and
 * ends after {@code steps} steps. It records the size of each step call.
 *
 * <p>Caller text (unless {@link #withoutTranscription()}): each session "hears" {@code "caller <callId>"} in
 * {@link #callerTokens} decoder tokens, one per step once every session of the batch has its first audio out and the
 * scheduler does not hold the decoder (the rest in its done step only when stepped without the scheduler's word); a
 * cancelled session, or one done with its transcript unfinished, finishes it through
 * {@link EngineSession#advanceCallerText}. A call ID containing
 * {@code "bad-decoder"} gives a failed transcript instead.
 */
class ScriptedEngine implements TurnEngine {

    final int steps;
    final int unitsPerChunk;
    final List<Integer> stepSizes = new ArrayList<>();
    final List<Session> started = new ArrayList<>();
    /** The scheduler's word on the caller decoder, per step call. */
    final List<Boolean> decoderAllowed = new ArrayList<>();
    boolean transcribes = true;
    int callerTokens = 4;
    /** A test clock (µs) each caller-decoder token moves by {@link #usPerCallerToken}: the decoder's cost; null: free. */
    java.util.concurrent.atomic.AtomicLong clock;
    long usPerCallerToken;

    ScriptedEngine(int steps, int unitsPerChunk) {
        this.steps = steps;
        this.unitsPerChunk = unitsPerChunk;
    }

    ScriptedEngine withoutTranscription() {
        transcribes = false;
        return this;
    }

    static String heard(TurnInput input) {
        return "caller " + input.callId();
    }

    final class Session implements EngineSession {
        final TurnInput input;
        final boolean reused;
        int step;
        int pendingUnits;
        int textChars;
        boolean hadAudio;
        boolean closed;
        int decoded;
        boolean callerHandedOut = !transcribes;
        long decodeStartUs;

        Session(TurnInput input, boolean reused) {
            this.input = input;
            this.reused = reused;
        }

        @Override
        public boolean reusedSnapshot() {
            return reused;
        }

        @Override
        public boolean done() {
            return step >= steps;
        }

        @Override
        public ConversationSnapshot keep() {
            return new FakeSnapshot(100);
        }

        @Override
        public boolean callerTextPending() {
            return !callerHandedOut;
        }

        @Override
        public int callerTokensLeft() {
            return callerHandedOut ? 0 : callerTokens - decoded;
        }

        @Override
        public StepOutput.CallerText advanceCallerText(int tokens) {
            if (closed) {
                throw new IllegalStateException("transcribing a closed session");
            }
            if (callerHandedOut) {
                return null;
            }
            if (decodeStartUs == 0) {
                decodeStartUs = Clock.nowMicros();
            }
            int was = decoded;
            decoded = (int) Math.min((long) callerTokens, (long) decoded + tokens);
            if (clock != null) {
                clock.addAndGet((decoded - was) * usPerCallerToken);
            }
            if (decoded < callerTokens) {
                return null;
            }
            callerHandedOut = true;
            long now = Clock.nowMicros();
            if (input.callId().contains("bad-decoder")) {
                return new StepOutput.CallerText("", "en", 0, false, decodeStartUs, now, 7,
                        new IllegalStateException("scripted decoder failure on " + input.callId()));
            }
            return new StepOutput.CallerText(heard(input), "en", callerTokens, false, decodeStartUs, now, 5, null);
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    @Override
    public EngineSession start(TurnInput input, ConversationSnapshot reuse) {
        if (reuse != null) {
            reuse.close();
        }
        Session s = new Session(input, reuse != null);
        started.add(s);
        return s;
    }

    /** As the real engine's step without a driver's word: the rest of an ended reply's transcript in its done step. */
    @Override
    public List<StepOutput> step(List<EngineSession> batch) {
        return step(batch, true, true);
    }

    /**
     * As the real engine under the worker's scheduler: nothing while it holds the decoder, else one token per step
     * (a done step included) once every session of the batch has its first audio; the rest through the tail.
     */
    @Override
    public List<StepOutput> step(List<EngineSession> batch, boolean decoderMayRun) {
        decoderAllowed.add(decoderMayRun);
        return step(batch, decoderMayRun, false);
    }

    private List<StepOutput> step(List<EngineSession> batch, boolean decoderMayRun, boolean finishAtDone) {
        stepSizes.add(batch.size());
        List<StepOutput> out = new ArrayList<>();
        for (EngineSession es : batch) {
            Session s = (Session) es;
            if (s.closed) {
                throw new IllegalStateException("stepping a closed session");
            }
            String text = "t" + s.step + " ";
            s.step++;
            s.pendingUnits++;
            s.textChars += text.length();
            boolean done = s.done();
            List<StepOutput.AudioPiece> audio = new ArrayList<>();
            if (s.pendingUnits >= unitsPerChunk || (done && s.pendingUnits > 0)) {
                audio.add(new StepOutput.AudioPiece(new byte[s.pendingUnits * 640], 16_000, s.pendingUnits, s.textChars));
                s.pendingUnits = 0;
                s.hadAudio = true;
            }
            out.add(new StepOutput(text, 1, audio, done));
        }
        // as the real engine: no caller decoding while the driver holds it or a session of the batch has no audio
        // yet; then one token per step, the rest in the done step only without a driver's word
        boolean everySpeaks = batch.stream().allMatch(es -> ((Session) es).hadAudio || es.done());
        for (int i = 0; i < batch.size() && everySpeaks && decoderMayRun; i++) {
            Session s = (Session) batch.get(i);
            StepOutput o = out.get(i);
            StepOutput.CallerText caller = s.advanceCallerText(o.done() && finishAtDone ? Integer.MAX_VALUE : 1);
            if (caller != null) {
                out.set(i, new StepOutput(o.text(), o.newUnits(), o.audio(), o.done(), caller));
            }
        }
        return out;
    }

    @Override
    public void close() {
    }
}
