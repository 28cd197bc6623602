package dev.omnicall.topologies;

import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.TextDelta;
import dev.omnicall.state.ConversationState;
import dev.omnicall.state.PendingUserTurn;
import dev.omnicall.state.ReplyDraft;
import org.apache.kafka.streams.state.KeyValueStore;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The conversation-context store, keyed by call ID: the last N completed turns (assistant text from the
 * response-text finals, the caller's side as audio for the most recent turns), the caller audio of requests
 * still awaiting a reply, and the replies being collected. Cleared on CallEnded.
 */
final class ConversationContext {

    /** Requests awaiting a reply, per call; older ones are forgotten (their reply never came). */
    static final int MAX_PENDING = 4;

    private final KeyValueStore<String, ConversationState> store;
    private final ConversationConfig config;
    private final TopologyMetrics metrics;

    ConversationContext(KeyValueStore<String, ConversationState> store, ConversationConfig config, TopologyMetrics metrics) {
        this.store = store;
        this.config = config;
        this.metrics = metrics;
    }

    private ConversationState load(String callId) {
        ConversationState s = store.get(callId);
        return s != null ? s : ConversationState.newBuilder().setTurns(new ArrayList<>())
                .setPending(new ArrayList<>()).setDrafts(new ArrayList<>()).build();
    }

    /** The completed turns, oldest first, to join into the next request. */
    List<ConversationTurn> history(String callId) {
        ConversationState s = store.get(callId);
        return s == null ? List.of() : List.copyOf(s.getTurns());
    }

    /** Remembers the caller audio of a request so it can join the history once the reply is complete. */
    void addPending(String callId, int turnId, ByteBuffer audio) {
        ConversationState s = load(callId);
        List<PendingUserTurn> pending = new ArrayList<>(s.getPending());
        pending.removeIf(p -> p.getTurnId() == turnId);
        pending.add(new PendingUserTurn(turnId, config.historyAudioTurns() > 0 ? audio.duplicate() : null));
        while (pending.size() > MAX_PENDING) {
            pending.remove(0);
        }
        s.setPending(pending);
        store.put(callId, s);
    }

    /**
     * Adds a TextDelta to its turn's reply. Returns the completed turn when this delta was the last one of the
     * attempt being collected. The first attempt seen is collected; a newer attempt that starts again at seq 0
     * (a retry after a worker failed) replaces it; anything else is a duplicate.
     *
     * <p>A delta of a call with no context is dropped and counted: every request this topology emits first
     * stores its pending turn, so no context means CallEnded cleared it. The worker's deltas sent before it
     * read that CallEnded, and its cancelled last delta, arrive afterwards; storing them brought the context
     * back for good, since nothing clears a call twice (BUG-3, found by BridgeCrashIT).
     */
    Optional<ConversationTurn> apply(String callId, TextDelta delta) {
        ConversationState s = store.get(callId);
        if (s == null) {
            metrics.increment(TopologyMetrics.DELTAS_WITHOUT_CONTEXT);
            return Optional.empty();
        }
        int lastCompleted = s.getTurns().stream().mapToInt(ConversationTurn::getTurnId).max().orElse(-1);
        if (delta.getTurnId() <= lastCompleted) {
            metrics.increment(TopologyMetrics.DUPLICATE_DELTAS);
            return Optional.empty();
        }
        List<ReplyDraft> drafts = new ArrayList<>(s.getDrafts());
        ReplyDraft draft = drafts.stream().filter(d -> d.getTurnId() == delta.getTurnId()).findFirst().orElse(null);
        if (draft == null) {
            draft = new ReplyDraft(delta.getTurnId(), delta.getAttempt(), 0, "", false);
            drafts.add(draft);
        } else if (draft.getAttempt() != delta.getAttempt()) {
            if (delta.getAttempt() > draft.getAttempt() && delta.getSeq() == 0) {
                draft.setAttempt(delta.getAttempt());
                draft.setNextSeq(0);
                draft.setText("");
            } else {
                metrics.increment(TopologyMetrics.STALE_ATTEMPTS);
                return Optional.empty();
            }
        }
        if (delta.getSeq() < draft.getNextSeq()) {
            metrics.increment(TopologyMetrics.DUPLICATE_DELTAS);
            return Optional.empty();
        }
        draft.setText(draft.getText() + delta.getText());
        draft.setNextSeq(delta.getSeq() + 1);
        draft.setInterrupted(draft.getInterrupted() || delta.getCancelled());
        Optional<ConversationTurn> completed = Optional.empty();
        if (delta.getLast()) {
            drafts.remove(draft);
            ConversationTurn turn = complete(s, draft);
            completed = Optional.of(turn);
        }
        s.setDrafts(drafts);
        store.put(callId, s);
        return completed;
    }

    private ConversationTurn complete(ConversationState s, ReplyDraft draft) {
        List<PendingUserTurn> pending = new ArrayList<>(s.getPending());
        ByteBuffer userAudio = null;
        for (PendingUserTurn p : pending) {
            if (p.getTurnId() == draft.getTurnId()) {
                userAudio = p.getUserAudio();
            }
        }
        pending.removeIf(p -> p.getTurnId() <= draft.getTurnId());
        ConversationTurn turn = ConversationTurn.newBuilder().setTurnId(draft.getTurnId()).setUserText(null)
                .setUserAudio(userAudio).setAssistantText(draft.getText()).setInterrupted(draft.getInterrupted()).build();
        List<ConversationTurn> turns = new ArrayList<>(s.getTurns());
        turns.add(turn);
        while (turns.size() > config.historyTurns()) {
            turns.remove(0);
        }
        // Caller audio is large: only the most recent turns keep it.
        for (int i = 0; i < turns.size() - config.historyAudioTurns(); i++) {
            turns.get(i).setUserAudio(null);
        }
        s.setTurns(turns);
        s.setPending(pending);
        metrics.increment(TopologyMetrics.TURNS_COMPLETED);
        return ConversationTurn.newBuilder(turn).build();
    }

    /** The caller barged in: the reply of that turn is marked interrupted when it completes. */
    void markInterrupted(String callId, int turnId) {
        ConversationState s = store.get(callId);
        if (s == null) {
            return;
        }
        boolean changed = false;
        for (ReplyDraft d : s.getDrafts()) {
            if (d.getTurnId() == turnId) {
                d.setInterrupted(true);
                changed = true;
            }
        }
        if (changed) {
            store.put(callId, s);
        }
    }

    void clear(String callId) {
        store.delete(callId);
    }
}
