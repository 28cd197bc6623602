package dev.omnicall.topologies;

import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import dev.omnicall.kafka.Clock;
import org.apache.kafka.streams.state.KeyValueStore;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The per-call transcript, kept in a store and emitted whole on every change to the compacted transcripts
 * topic, so the latest record per call ID is the call's transcript.
 *
 * <p>Turns are in turn order (the order the caller spoke them); within a turn the caller's side comes
 * first, and {@code userEndedUs} / {@code replyStartedUs} place both sides on the call's timeline. A turn
 * appears as soon as either side has text: the caller's text (CallerText) may come before or after the
 * reply completes. Until the reply completes its {@code assistantText} is empty and {@code completedUs} 0.
 * An interrupted reply keeps only what the caller heard ({@link HeardText}), and {@code generatedChars} the
 * length that was generated. The store keeps the text unredacted; redaction applies to what is published.
 */
final class TranscriptBook {

    private final KeyValueStore<String, Transcript> store;
    private final boolean redact;

    TranscriptBook(KeyValueStore<String, Transcript> store, boolean redact) {
        this.store = store;
        this.redact = redact;
    }

    private Transcript load(String callId) {
        Transcript t = store.get(callId);
        return t != null ? t : Transcript.newBuilder().setCallId(callId).setTurns(new ArrayList<>()).setDtmf("")
                .setEnded(false).setUpdatedUs(Clock.nowMicros()).build();
    }

    Transcript started(String callId) {
        Transcript t = load(callId);
        return save(t);
    }

    /** The turn's entry, made (empty, in turn order) when it has none. */
    private static TranscriptTurn turnOf(Transcript t, int turnId) {
        List<TranscriptTurn> turns = new ArrayList<>(t.getTurns());
        int at = 0;
        for (TranscriptTurn existing : turns) {
            if (existing.getTurnId() == turnId) {
                return existing;
            }
            if (existing.getTurnId() < turnId) {
                at++;
            }
        }
        TranscriptTurn turn = TranscriptTurn.newBuilder().setTurnId(turnId).setUserText(null).setAssistantText("")
                .setInterrupted(false).setCompletedUs(0L).build();
        turns.add(at, turn);
        t.setTurns(turns);
        return turn;
    }

    private static Optional<TranscriptTurn> existingTurn(Transcript t, int turnId) {
        return t.getTurns().stream().filter(x -> x.getTurnId() == turnId).findFirst();
    }

    /** The reply of a turn completed (cut to what was heard when the caller barged in). */
    Transcript turnCompleted(String callId, ConversationContext.CompletedTurn done) {
        Transcript t = load(callId);
        TranscriptTurn turn = turnOf(t, done.turn().getTurnId());
        if (done.turn().getUserText() != null) {
            turn.setUserText(done.turn().getUserText());
        }
        turn.setAssistantText(done.turn().getAssistantText());
        turn.setInterrupted(done.turn().getInterrupted());
        turn.setGeneratedChars(done.generatedChars());
        turn.setCompletedUs(Clock.nowMicros());
        setTimes(turn, done.userEndedUs(), done.replyStartedUs());
        return save(t);
    }

    /** What the caller said in a turn; the turn is made if its reply has not completed yet. */
    Transcript callerSaid(String callId, int turnId, ConversationContext.CallerSide side) {
        Transcript t = load(callId);
        TranscriptTurn turn = turnOf(t, turnId);
        turn.setUserText(side.text());
        setTimes(turn, side.userEndedUs(), side.replyStartedUs());
        return save(t);
    }

    /** The reply's first RTP packet went out; only a turn already in the transcript changes. */
    Optional<Transcript> replyStarted(String callId, int turnId, long firstRtpUs) {
        Transcript t = load(callId);
        Optional<TranscriptTurn> turn = existingTurn(t, turnId);
        if (turn.isEmpty() || turn.get().getReplyStartedUs() > 0) {
            return Optional.empty();
        }
        turn.get().setReplyStartedUs(firstRtpUs);
        return Optional.of(save(t));
    }

    /**
     * A BargeIn came after the reply of its turn completed: the turn is marked interrupted and, with
     * {@code heardChars} >= 0, keeps only what was heard. Empty when nothing changed (a turn not in the
     * transcript, or already cut).
     */
    Optional<Transcript> interruptedAfterCompletion(String callId, ConversationContext.LateBargeIn late) {
        Transcript t = load(callId);
        Optional<TranscriptTurn> found = existingTurn(t, late.turnId());
        if (found.isEmpty()) {
            return Optional.empty();
        }
        TranscriptTurn turn = found.get();
        boolean changed = !turn.getInterrupted();
        turn.setInterrupted(true);
        if (late.heardChars() >= 0 && turn.getGeneratedChars() < 0) {
            String generated = turn.getAssistantText();
            turn.setGeneratedChars(generated.length());
            turn.setAssistantText(HeardText.cut(generated, late.heardChars()));
            changed = true;
        }
        return changed ? Optional.of(save(t)) : Optional.empty();
    }

    private static void setTimes(TranscriptTurn turn, long userEndedUs, long replyStartedUs) {
        if (userEndedUs > 0) {
            turn.setUserEndedUs(userEndedUs);
        }
        if (replyStartedUs > 0) {
            turn.setReplyStartedUs(replyStartedUs);
        }
    }

    /** What leaves for the topic: the stored transcript, masked when redaction is on. */
    private Transcript published(Transcript t) {
        Transcript out = Transcript.newBuilder(t).build();
        if (!redact) {
            return out;
        }
        List<TranscriptTurn> turns = new ArrayList<>();
        for (TranscriptTurn turn : out.getTurns()) {
            turns.add(TranscriptTurn.newBuilder(turn).setUserText(TranscriptRedactor.redactText(turn.getUserText()))
                    .setAssistantText(TranscriptRedactor.redactText(turn.getAssistantText())).build());
        }
        out.setTurns(turns);
        out.setDtmf(TranscriptRedactor.redactDtmf(out.getDtmf()));
        return out;
    }

    Transcript dtmf(String callId, String digit) {
        Transcript t = load(callId);
        t.setDtmf(t.getDtmf() + digit);
        return save(t);
    }

    /**
     * Marks the transcript ended. With {@code keepForGrace} the store keeps it (ended) so that a CallerText arriving
     * within the grace period still completes it, each change republished ended; without, it is dropped at once.
     * Either way the topic keeps the latest version.
     */
    Transcript ended(String callId, boolean keepForGrace) {
        Transcript t = load(callId);
        t.setEnded(true);
        if (keepForGrace) {
            return save(t);
        }
        t.setUpdatedUs(Clock.nowMicros());
        store.delete(callId);
        return published(t);
    }

    /** Drops what is kept of an earlier call with this ID (a call ID reused within the grace period). */
    void forget(String callId) {
        store.delete(callId);
    }

    private Transcript save(Transcript t) {
        t.setUpdatedUs(Clock.nowMicros());
        store.put(t.getCallId(), t);
        return published(t);
    }
}
