package dev.omnicall.topologies;

import dev.omnicall.state.HeldRecord;
import dev.omnicall.state.SpeculationState;
import dev.omnicall.state.SpeculationStatus;
import dev.omnicall.state.SpeculativeTurn;
import org.apache.kafka.streams.state.KeyValueStore;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The speculative-turns store, keyed by call ID. A speculative turn is requested at the bridge's tentative end of an
 * utterance, before anyone knows whether the caller has finished; until the bridge resolves it, nothing of it may
 * reach the conversation context or the transcript. So the records of an open turn that would write there (its
 * TextDeltas, its CallerText) are held here as they came, and replayed in arrival order when the turn is
 * confirmed (TurnConfirmed, or anything that implies it: its PlaybackStarted, a barge-in into its reply), or
 * dropped when it is cancelled (a BargeIn marked speculative, or an utterance that replaces it). Resolved turns are
 * remembered ({@link #REMEMBERED}) so a record that comes after the resolution, or a resolution that overtakes the
 * speculative request itself (call-events and caller-audio are different topics), still finds its answer.
 */
final class SpeculationGate {

    /** Resolved turns remembered per call. */
    static final int REMEMBERED = 16;
    /** Held records per open turn; beyond it the turn's records are dropped, counted (a turn is open for < 1 s). */
    static final int MAX_HELD = 512;

    /** What {@link #intercept} did with a record. */
    enum Verdict { PROCESS, HELD, DROPPED }

    /** What the request of a turn is, as far as speculation goes. */
    enum Kind { NOT_SPECULATIVE, OPEN, CONFIRMED, CANCELLED }

    private final KeyValueStore<String, SpeculationState> store;
    private final TopologyMetrics metrics;

    SpeculationGate(KeyValueStore<String, SpeculationState> store, TopologyMetrics metrics) {
        this.store = store;
        this.metrics = metrics;
    }

    private SpeculationState load(String callId) {
        SpeculationState s = store.get(callId);
        return s != null ? s : SpeculationState.newBuilder().setTurns(new ArrayList<>()).build();
    }

    private static SpeculativeTurn find(SpeculationState s, int turnId) {
        for (SpeculativeTurn t : s.getTurns()) {
            if (t.getTurnId() == turnId) {
                return t;
            }
        }
        return null;
    }

    private SpeculativeTurn findOrAdd(SpeculationState s, int turnId) {
        SpeculativeTurn t = find(s, turnId);
        if (t == null) {
            t = SpeculativeTurn.newBuilder().setTurnId(turnId).setStatus(SpeculationStatus.OPEN)
                    .setHeld(new ArrayList<>()).build();
            List<SpeculativeTurn> turns = new ArrayList<>(s.getTurns());
            turns.add(t);
            s.setTurns(turns);
        }
        return t;
    }

    /** Forgets the oldest resolved turns beyond {@link #REMEMBERED}; open ones always stay. */
    private void save(String callId, SpeculationState s) {
        List<SpeculativeTurn> turns = new ArrayList<>(s.getTurns());
        long resolved = turns.stream().filter(t -> t.getStatus() != SpeculationStatus.OPEN).count();
        for (int i = 0; i < turns.size() && resolved > REMEMBERED; ) {
            if (turns.get(i).getStatus() != SpeculationStatus.OPEN) {
                turns.remove(i);
                resolved--;
            } else {
                i++;
            }
        }
        s.setTurns(turns);
        if (turns.isEmpty()) {
            store.delete(callId);
        } else {
            store.put(callId, s);
        }
    }

    /**
     * The end-of-utterance segment of {@code turnId} was speculative: the turn opens, unless the bridge's verdict
     * overtook it. Returns what the request is.
     */
    Kind opened(String callId, int turnId, long tentativeEndUs, long speechEndUs) {
        SpeculationState s = load(callId);
        SpeculativeTurn t = findOrAdd(s, turnId);
        t.setTentativeEndUs(tentativeEndUs);
        t.setSpeechEndUs(speechEndUs);
        save(callId, s);
        return kindOf(t);
    }

    /** What the gate knows of the turn. */
    Kind kind(String callId, int turnId) {
        SpeculationState s = store.get(callId);
        SpeculativeTurn t = s == null ? null : find(s, turnId);
        return t == null ? Kind.NOT_SPECULATIVE : kindOf(t);
    }

    private static Kind kindOf(SpeculativeTurn t) {
        return switch (t.getStatus()) {
            case OPEN -> Kind.OPEN;
            case CONFIRMED -> Kind.CONFIRMED;
            case CANCELLED -> Kind.CANCELLED;
        };
    }

    /**
     * Offers a record of a turn, with the worker's stamps it carries (0 unknown). Returns true when the gate took
     * it: held for an open turn, or dropped for a cancelled one (counted). False: process it now.
     */
    Verdict intercept(String callId, int turnId, String topic, byte[] value, long timestamp, long inferenceStartUs) {
        SpeculationState s = store.get(callId);
        SpeculativeTurn t = s == null ? null : find(s, turnId);
        if (t == null || t.getStatus() == SpeculationStatus.CONFIRMED) {
            return Verdict.PROCESS;
        }
        Verdict verdict = t.getStatus() == SpeculationStatus.CANCELLED ? Verdict.DROPPED : Verdict.HELD;
        if (inferenceStartUs > 0 && t.getInferenceStartUs() == 0) {
            t.setInferenceStartUs(inferenceStartUs);
        }
        t.setWorkEndUs(Math.max(t.getWorkEndUs(), timestamp * 1000));
        if (t.getStatus() == SpeculationStatus.CANCELLED) {
            metrics.increment(TopologyMetrics.RECORDS_OF_CANCELLED_SPECULATION);
        } else if (t.getHeld().size() >= MAX_HELD) {
            metrics.increment(TopologyMetrics.SPECULATION_HOLD_OVERFLOW);
            verdict = Verdict.DROPPED;
        } else {
            List<HeldRecord> held = new ArrayList<>(t.getHeld());
            held.add(new HeldRecord(topic, ByteBuffer.wrap(value.clone()), timestamp));
            t.setHeld(held);
            metrics.increment(TopologyMetrics.RECORDS_HELD_FOR_SPECULATION);
        }
        save(callId, s);
        return verdict;
    }

    /**
     * The accounting record of a cancelled speculative turn, made when the worker's cancelled last TextDelta of it
     * comes ({@code lastDeltaUs}, its record time): speculation CANCELLED, the bridge's stamps, and the model time
     * spent on it (inference start to that delta; 0 when the worker cancelled it before it started).
     */
    dev.omnicall.events.TurnMetrics cancelledMetrics(String callId, int turnId, int attempt,
                                                     dev.omnicall.events.TurnTimings deltaTimings, long lastDeltaUs) {
        SpeculationState s = store.get(callId);
        SpeculativeTurn t = s == null ? null : find(s, turnId);
        dev.omnicall.events.TurnTimings timings = deltaTimings == null ? new dev.omnicall.events.TurnTimings()
                : dev.omnicall.events.TurnTimings.newBuilder(deltaTimings).build();
        dev.omnicall.events.TurnMetrics m = TurnMetricsCalculator.compute(callId, turnId, attempt, timings);
        m.setFirstAudioLatencyUs(null);
        m.setSpeculation(dev.omnicall.events.SpeculationOutcome.CANCELLED);
        Long start = timings.getInferenceStartUs();
        if (start == null && t != null && t.getInferenceStartUs() > 0) {
            start = t.getInferenceStartUs();
        }
        m.setCancelledWorkUs(start == null ? 0L : Math.max(0L, lastDeltaUs - start));
        return m;
    }

    /** Sets the speculation fields of a turn's metrics from what the gate knows of the turn. */
    dev.omnicall.events.TurnMetrics account(dev.omnicall.events.TurnMetrics m) {
        long confirmed = confirmedUs(m.getCallId(), m.getTurnId());
        if (confirmed > 0) {
            dev.omnicall.events.TurnTimings t = m.getTimings();
            m.setSpeculation(dev.omnicall.events.SpeculationOutcome.CONFIRMED);
            if (t.getSpeechEndUs() != null) {
                m.setEndOfTurnConfirmUs(confirmed - t.getSpeechEndUs());
            }
            if (t.getChunkReceivedUs() != null) {
                m.setConfirmWaitUs(Math.max(0L, confirmed - t.getChunkReceivedUs()));
            }
        }
        return m;
    }

    /**
     * The bridge confirmed the turn's end. Returns the records held for it, in arrival order, to process now; empty
     * when there are none or the turn was resolved before (a cancelled turn stays cancelled).
     */
    List<HeldRecord> confirm(String callId, int turnId, long confirmedUs) {
        SpeculationState s = load(callId);
        SpeculativeTurn t = findOrAdd(s, turnId);
        if (t.getStatus() != SpeculationStatus.OPEN) {
            return List.of();
        }
        t.setStatus(SpeculationStatus.CONFIRMED);
        t.setResolvedUs(confirmedUs);
        List<HeldRecord> held = List.copyOf(t.getHeld());
        t.setHeld(new ArrayList<>());
        save(callId, s);
        metrics.increment(TopologyMetrics.SPECULATIVE_TURNS_CONFIRMED);
        return held;
    }

    /** A cancelled turn as the accounting sees it. */
    record Cancelled(int turnId, long tentativeEndUs, long speechEndUs, long cancelledUs, long inferenceStartUs,
                     int droppedRecords) {
    }

    /**
     * The turn was cancelled: what was held is dropped. Returns the turn when this call cancelled it (empty when it
     * was resolved before: a second cancel, or a turn already confirmed, which stays confirmed).
     */
    Optional<Cancelled> cancel(String callId, int turnId, long cancelledUs) {
        SpeculationState s = load(callId);
        SpeculativeTurn t = findOrAdd(s, turnId);
        if (t.getStatus() != SpeculationStatus.OPEN) {
            return Optional.empty();
        }
        int dropped = t.getHeld().size();
        t.setStatus(SpeculationStatus.CANCELLED);
        t.setResolvedUs(cancelledUs);
        t.setHeld(new ArrayList<>());
        save(callId, s);
        metrics.increment(TopologyMetrics.SPECULATIVE_TURNS_CANCELLED);
        return Optional.of(new Cancelled(turnId, t.getTentativeEndUs(), t.getSpeechEndUs(), cancelledUs,
                t.getInferenceStartUs(), dropped));
    }

    /** The turn's confirmation time, 0 when it is not a confirmed speculative turn. */
    long confirmedUs(String callId, int turnId) {
        SpeculationState s = store.get(callId);
        SpeculativeTurn t = s == null ? null : find(s, turnId);
        return t == null || t.getStatus() != SpeculationStatus.CONFIRMED ? 0 : t.getResolvedUs();
    }

    void clear(String callId) {
        store.delete(callId);
    }
}
