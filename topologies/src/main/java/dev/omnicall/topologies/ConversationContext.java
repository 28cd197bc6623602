package dev.omnicall.topologies;

import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.TextDelta;
import dev.omnicall.state.ConversationState;
import dev.omnicall.state.PendingUserTurn;
import dev.omnicall.state.ReplyDraft;
import dev.omnicall.state.TurnNote;
import org.apache.kafka.streams.state.KeyValueStore;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The conversation-context store, keyed by call ID: the last N completed turns (assistant text from the
 * response-text finals, the caller's side as text from caller-text and as audio for the most recent turns),
 * the caller audio of requests still awaiting a reply, the replies being collected, and a {@link TurnNote}
 * per turn (the attempts its texts came from, the caller's text until the reply completes, the barge-in cut).
 * Cleared on CallEnded.
 *
 * <p>The caller's text and the barge-in may come before, during or after the reply's TextDeltas; each is kept
 * in the turn's note until the reply completes, or applied to the completed turn when it comes later.
 */
final class ConversationContext {

    /** Requests awaiting a reply, per call; older ones are forgotten (their reply never came). */
    static final int MAX_PENDING = 4;
    /** Notes kept per call beyond those of turns still in flight (late CallerTexts and BargeIns find them). */
    static final int MAX_NOTES = 16;

    /** A completed turn as the history keeps it, and the length of its generated reply when it was cut (else -1). */
    record CompletedTurn(ConversationTurn turn, int generatedChars, long userEndedUs, long replyStartedUs) {
    }

    /** The caller's text of a turn, accepted, with the turn's times known so far (0 unknown) for the transcript. */
    record CallerSide(String text, long userEndedUs, long replyStartedUs) {
    }

    /** What a BargeIn that came after its turn completed means for the transcript: heardChars -1 marks it only. */
    record LateBargeIn(int turnId, int heardChars) {
    }

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
                .setPending(new ArrayList<>()).setDrafts(new ArrayList<>()).setNotes(new ArrayList<>()).build();
    }

    /**
     * The note of a turn the context knows (requested, collecting, or completed and still remembered), made
     * if it has none yet; null for a turn it does not know.
     */
    private static TurnNote noteOf(ConversationState s, int turnId) {
        for (TurnNote n : s.getNotes()) {
            if (n.getTurnId() == turnId) {
                return n;
            }
        }
        boolean known = s.getPending().stream().anyMatch(p -> p.getTurnId() == turnId)
                || s.getDrafts().stream().anyMatch(d -> d.getTurnId() == turnId)
                || s.getTurns().stream().anyMatch(t -> t.getTurnId() == turnId);
        if (!known) {
            return null;
        }
        TurnNote n = TurnNote.newBuilder().setTurnId(turnId).build();
        List<TurnNote> notes = new ArrayList<>(s.getNotes());
        notes.add(n);
        s.setNotes(notes);
        return n;
    }

    /** Drops the oldest notes of turns no longer in flight beyond {@link #MAX_NOTES}. */
    private static void pruneNotes(ConversationState s) {
        List<TurnNote> notes = new ArrayList<>(s.getNotes());
        notes.sort(Comparator.comparingInt(TurnNote::getTurnId));
        for (int i = 0; i < notes.size() && notes.size() > MAX_NOTES; ) {
            int turnId = notes.get(i).getTurnId();
            boolean inFlight = s.getPending().stream().anyMatch(p -> p.getTurnId() == turnId)
                    || s.getDrafts().stream().anyMatch(d -> d.getTurnId() == turnId);
            if (inFlight) {
                i++;
            } else {
                notes.remove(i);
            }
        }
        s.setNotes(notes);
    }

    private static ConversationTurn completedTurn(ConversationState s, int turnId) {
        for (ConversationTurn t : s.getTurns()) {
            if (t.getTurnId() == turnId) {
                return t;
            }
        }
        return null;
    }

    /** Whether the reply of the turn completed (its note says which attempt; a completed turn has no draft). */
    private static boolean completed(ConversationState s, TurnNote note) {
        return note.getReplyAttempt() >= 0 && s.getDrafts().stream().noneMatch(d -> d.getTurnId() == note.getTurnId())
                && s.getPending().stream().noneMatch(p -> p.getTurnId() == note.getTurnId());
    }

    /** The completed turns, oldest first, to join into the next request. */
    List<ConversationTurn> history(String callId) {
        ConversationState s = store.get(callId);
        return s == null ? List.of() : List.copyOf(s.getTurns());
    }

    /**
     * Remembers the caller audio of a request so it can join the history once the reply is complete, and when
     * the caller stopped speaking ({@code userEndedUs}, 0 unknown) for the transcript.
     */
    void addPending(String callId, int turnId, ByteBuffer audio, long userEndedUs) {
        ConversationState s = load(callId);
        List<PendingUserTurn> pending = new ArrayList<>(s.getPending());
        pending.removeIf(p -> p.getTurnId() == turnId);
        pending.add(new PendingUserTurn(turnId, config.historyAudioTurns() > 0 ? audio.duplicate() : null));
        while (pending.size() > MAX_PENDING) {
            pending.remove(0);
        }
        s.setPending(pending);
        TurnNote note = noteOf(s, turnId);
        if (userEndedUs > 0) {
            note.setUserEndedUs(userEndedUs);
        }
        pruneNotes(s);
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
    Optional<CompletedTurn> apply(String callId, TextDelta delta) {
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
            s.setDrafts(drafts);
            noteOf(s, delta.getTurnId()).setReplyAttempt(delta.getAttempt());
        } else if (draft.getAttempt() != delta.getAttempt()) {
            if (delta.getAttempt() > draft.getAttempt() && delta.getSeq() == 0) {
                draft.setAttempt(delta.getAttempt());
                draft.setNextSeq(0);
                draft.setText("");
                noteOf(s, delta.getTurnId()).setReplyAttempt(delta.getAttempt());
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
        Optional<CompletedTurn> completed = Optional.empty();
        s.setDrafts(drafts);
        if (delta.getLast()) {
            drafts.remove(draft);
            completed = Optional.of(complete(s, draft));
        }
        store.put(callId, s);
        return completed;
    }

    /**
     * The reply is complete: the turn joins the history with the caller's text if it came already, and, when
     * the caller barged in on this attempt and the bridge said how much was heard, only the heard part.
     */
    private CompletedTurn complete(ConversationState s, ReplyDraft draft) {
        TurnNote note = noteOf(s, draft.getTurnId());
        if (note == null) {
            // a draft from before notes existed whose request was forgotten: the turn is known by its reply
            note = TurnNote.newBuilder().setTurnId(draft.getTurnId()).setReplyAttempt(draft.getAttempt()).build();
            List<TurnNote> notes = new ArrayList<>(s.getNotes());
            notes.add(note);
            s.setNotes(notes);
        }
        List<PendingUserTurn> pending = new ArrayList<>(s.getPending());
        ByteBuffer userAudio = null;
        for (PendingUserTurn p : pending) {
            if (p.getTurnId() == draft.getTurnId()) {
                userAudio = p.getUserAudio();
            }
        }
        pending.removeIf(p -> p.getTurnId() <= draft.getTurnId());
        String generated = draft.getText();
        String heard = generated;
        int generatedChars = -1;
        if (note.getBargedIn() && note.getHeardChars() >= 0) {
            if (note.getCutAttempt() == draft.getAttempt()) {
                heard = HeardText.cut(generated, note.getHeardChars());
                generatedChars = generated.length();
                metrics.increment(TopologyMetrics.REPLIES_CUT);
            } else {
                metrics.increment(TopologyMetrics.CUTS_OF_ANOTHER_ATTEMPT);
            }
        }
        ConversationTurn turn = ConversationTurn.newBuilder().setTurnId(draft.getTurnId()).setUserText(note.getUserText())
                .setUserAudio(userAudio).setAssistantText(heard)
                .setInterrupted(draft.getInterrupted() || note.getBargedIn()).build();
        note.setUserText(null);   // it lives in the turn from now on
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
        pruneNotes(s);
        metrics.increment(TopologyMetrics.TURNS_COMPLETED);
        return new CompletedTurn(ConversationTurn.newBuilder(turn).build(), generatedChars, note.getUserEndedUs(),
                note.getReplyStartedUs());
    }

    /**
     * What the caller said in a turn (CallerText). Returns the caller's text to put into the transcript turn
     * and when the caller stopped speaking, or empty when it is ignored, counted: the call has no context
     * ({@code caller_texts_without_context}), the turn is unknown ({@code caller_texts_unknown_turn}), the same
     * attempt's text came already ({@code duplicate_caller_texts}), or it is of an older attempt than the text
     * or the reply already taken for the turn ({@code stale_caller_texts}). A newer attempt's text replaces an
     * older one. Before the reply completes the text waits in the turn's note; after, it goes into the turn.
     */
    Optional<CallerSide> callerText(String callId, int turnId, int attempt, String text, long userEndedUs) {
        ConversationState s = store.get(callId);
        if (s == null) {
            metrics.increment(TopologyMetrics.CALLER_TEXTS_WITHOUT_CONTEXT);
            return Optional.empty();
        }
        TurnNote note = noteOf(s, turnId);
        if (note == null) {
            metrics.increment(TopologyMetrics.CALLER_TEXTS_UNKNOWN_TURN);
            return Optional.empty();
        }
        if (attempt == note.getUserTextAttempt()) {
            metrics.increment(TopologyMetrics.DUPLICATE_CALLER_TEXTS);
            return Optional.empty();
        }
        if (attempt < Math.max(note.getUserTextAttempt(), note.getReplyAttempt())) {
            metrics.increment(TopologyMetrics.STALE_CALLER_TEXTS);
            return Optional.empty();
        }
        note.setUserTextAttempt(attempt);
        if (note.getUserEndedUs() <= 0 && userEndedUs > 0) {
            note.setUserEndedUs(userEndedUs);
        }
        // No words recognised: the history keeps "unknown" (null), the transcript shows the empty text.
        String forHistory = text.isBlank() ? null : text;
        ConversationTurn done = completedTurn(s, turnId);
        if (done != null) {
            done.setUserText(forHistory);
        } else if (!completed(s, note)) {
            note.setUserText(forHistory);
        }
        pruneNotes(s);
        store.put(callId, s);
        metrics.increment(TopologyMetrics.CALLER_TEXTS);
        return Optional.of(new CallerSide(text, note.getUserEndedUs(), note.getReplyStartedUs()));
    }

    /**
     * The caller barged in on {@code attempt} of the turn, having heard {@code heardChars} of its text (-1
     * unknown). The turn is marked interrupted; with a known length its reply keeps only what was heard. The
     * cut waits in the turn's note for a reply still being collected (TextDeltas may follow the BargeIn), or
     * is applied at once to a completed one, which is returned for the transcript. Only the first BargeIn of
     * a turn counts ({@code duplicate_barge_ins}); one of an unknown turn is counted
     * ({@code barge_ins_unknown_turn}) and ignored; a cut is applied only to the attempt it names
     * ({@code cuts_of_another_attempt} otherwise: marked interrupted, text kept whole).
     */
    Optional<LateBargeIn> bargeIn(String callId, int turnId, int attempt, int heardChars) {
        ConversationState s = store.get(callId);
        TurnNote note = s == null ? null : noteOf(s, turnId);
        if (note == null) {
            metrics.increment(TopologyMetrics.BARGE_INS_UNKNOWN_TURN);
            return Optional.empty();
        }
        if (note.getBargedIn()) {
            metrics.increment(TopologyMetrics.DUPLICATE_BARGE_INS);
            return Optional.empty();
        }
        note.setBargedIn(true);
        note.setCutAttempt(attempt);
        note.setHeardChars(Math.max(-1, heardChars));
        for (ReplyDraft d : s.getDrafts()) {
            if (d.getTurnId() == turnId) {
                d.setInterrupted(true);
            }
        }
        Optional<LateBargeIn> late = Optional.empty();
        if (completed(s, note)) {
            int cutAt = -1;
            if (note.getHeardChars() >= 0) {
                if (note.getReplyAttempt() == attempt) {
                    cutAt = note.getHeardChars();
                    metrics.increment(TopologyMetrics.REPLIES_CUT);
                } else {
                    metrics.increment(TopologyMetrics.CUTS_OF_ANOTHER_ATTEMPT);
                }
            }
            ConversationTurn done = completedTurn(s, turnId);
            if (done != null) {
                done.setInterrupted(true);
                if (cutAt >= 0) {
                    done.setAssistantText(HeardText.cut(done.getAssistantText(), cutAt));
                }
            }
            late = Optional.of(new LateBargeIn(turnId, cutAt));
        }
        store.put(callId, s);
        return late;
    }

    /**
     * The first RTP packet of the turn's reply went out: the note keeps the time for a transcript turn made
     * later. Returns false for an unknown turn, or when the turn's reply had started already (a redelivery).
     */
    boolean replyStarted(String callId, int turnId, long firstRtpUs) {
        ConversationState s = store.get(callId);
        TurnNote note = s == null ? null : noteOf(s, turnId);
        if (note == null || note.getReplyStartedUs() > 0) {
            return false;
        }
        note.setReplyStartedUs(firstRtpUs);
        store.put(callId, s);
        return true;
    }

    void clear(String callId) {
        store.delete(callId);
    }

    /**
     * A speculative turn was cancelled: everything the context knows of it (its pending caller audio, a reply draft,
     * its note) goes, as if it had never been requested. A completed turn is left alone (a confirmed turn cannot be
     * cancelled). Returns whether anything was removed.
     */
    boolean forget(String callId, int turnId) {
        ConversationState s = store.get(callId);
        if (s == null) {
            return false;
        }
        List<PendingUserTurn> pending = new ArrayList<>(s.getPending());
        List<ReplyDraft> drafts = new ArrayList<>(s.getDrafts());
        List<TurnNote> notes = new ArrayList<>(s.getNotes());
        boolean removed = pending.removeIf(p -> p.getTurnId() == turnId) | drafts.removeIf(d -> d.getTurnId() == turnId);
        if (completedTurn(s, turnId) == null) {
            removed |= notes.removeIf(n -> n.getTurnId() == turnId);
        }
        if (removed) {
            s.setPending(pending);
            s.setDrafts(drafts);
            s.setNotes(notes);
            store.put(callId, s);
        }
        return removed;
    }

    /**
     * The call ended. With a grace period the context stays, for a CallerText still on its way only: the turns and
     * notes keep their text and times (what {@link #callerText} needs), the caller audio and the replies being
     * collected go (nothing will be requested or completed any more). Without one it is deleted at once.
     */
    void ended(String callId, boolean keepForGrace) {
        ConversationState s = keepForGrace ? store.get(callId) : null;
        if (s == null) {
            store.delete(callId);
            return;
        }
        List<ConversationTurn> turns = new ArrayList<>(s.getTurns());
        turns.forEach(t -> t.setUserAudio(null));
        List<PendingUserTurn> pending = new ArrayList<>();
        for (PendingUserTurn p : s.getPending()) {
            pending.add(new PendingUserTurn(p.getTurnId(), null));
        }
        s.setTurns(turns);
        s.setPending(pending);
        s.setDrafts(new ArrayList<>());
        store.put(callId, s);
    }
}
