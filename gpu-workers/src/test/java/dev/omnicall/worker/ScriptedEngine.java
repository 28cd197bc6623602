package dev.omnicall.worker;

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
 */
class ScriptedEngine implements TurnEngine {

    final int steps;
    final int unitsPerChunk;
    final List<Integer> stepSizes = new ArrayList<>();
    final List<Session> started = new ArrayList<>();

    ScriptedEngine(int steps, int unitsPerChunk) {
        this.steps = steps;
        this.unitsPerChunk = unitsPerChunk;
    }

    final class Session implements EngineSession {
        final TurnInput input;
        final boolean reused;
        int step;
        int pendingUnits;
        boolean closed;

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

    @Override
    public List<StepOutput> step(List<EngineSession> batch) {
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
            boolean done = s.done();
            List<StepOutput.AudioPiece> audio = new ArrayList<>();
            if (s.pendingUnits >= unitsPerChunk || (done && s.pendingUnits > 0)) {
                audio.add(new StepOutput.AudioPiece(new byte[s.pendingUnits * 640], 16_000, s.pendingUnits));
                s.pendingUnits = 0;
            }
            out.add(new StepOutput(text, 1, audio, done));
        }
        return out;
    }

    @Override
    public void close() {
    }
}
