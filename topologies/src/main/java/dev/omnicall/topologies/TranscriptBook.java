package dev.omnicall.topologies;

import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import dev.omnicall.kafka.Clock;
import org.apache.kafka.streams.state.KeyValueStore;

import java.util.ArrayList;
import java.util.List;

/**
 * The per-call transcript, kept in a store and emitted whole on every change to the compacted transcripts
 * topic, so the latest record per call ID is the call's transcript.
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

    Transcript turnCompleted(String callId, ConversationTurn turn) {
        Transcript t = load(callId);
        List<TranscriptTurn> turns = new ArrayList<>(t.getTurns());
        turns.add(TranscriptTurn.newBuilder().setTurnId(turn.getTurnId()).setUserText(turn.getUserText())
                .setAssistantText(turn.getAssistantText()).setInterrupted(turn.getInterrupted())
                .setCompletedUs(Clock.nowMicros()).build());
        t.setTurns(turns);
        return save(t);
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

    /** Marks the transcript ended and drops it from the store; the topic keeps the final version. */
    Transcript ended(String callId) {
        Transcript t = load(callId);
        t.setEnded(true);
        t.setUpdatedUs(Clock.nowMicros());
        store.delete(callId);
        return published(t);
    }

    private Transcript save(Transcript t) {
        t.setUpdatedUs(Clock.nowMicros());
        store.put(t.getCallId(), t);
        return published(t);
    }
}
