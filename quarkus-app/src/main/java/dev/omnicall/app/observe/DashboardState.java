package dev.omnicall.app.observe;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the dashboard shows when a browser connects: the recent calls with their turns and the latest
 * dead letters. Fed with the same event views that go out over SSE, so the page's first snapshot and the
 * live stream agree. Bounded: beyond {@code maxCalls} the call whose latest event is oldest is dropped. Events
 * may come out of order across topics (history read back at start-up interleaves them), so the view keeps
 * the record timestamps: calls are listed by their first event, newest first, and an ended call stays ended.
 *
 * <p>Workers are at-least-once: a turn may arrive as a retry (higher attempt) or with duplicate deltas.
 * The view keeps the highest attempt of each turn and its pieces by sequence number.
 *
 * <p>Each turn holds both sides: the caller's words (from {@code caller-text} while the turn runs; the
 * transcript's {@code userText}, which is what the transcripts topic keeps, once it arrives) and the bot's
 * reply. A reply the caller barged into carries {@code heardChars}: how many characters of it the caller heard
 * (the BargeIn's {@code playedTextChars}, or the transcript's cut {@code assistantText}), so the page can show
 * the rest as cut.
 *
 * <p>Workers: each TextDelta carries its worker's load (running and waiting turns, the least playback margin, whether
 * real-time admission holds newcomers); the view keeps the latest per worker by the worker's stamp, at most
 * {@code MAX_WORKERS} (the least recently heard dropped). A worker's last delta before it goes idle leaves its own turn
 * out, so an idle worker shows 0 running turns and no margin.
 */
public final class DashboardState {

    static final int MAX_DEAD_LETTERS = 20;
    static final int MAX_WORKERS = 64;

    private final int maxCalls;
    private final LinkedHashMap<String, CallView> calls = new LinkedHashMap<>();
    private final Deque<Map<String, Object>> deadLetters = new ArrayDeque<>();
    /** Worker ID → its latest load as a view ({@code workerId}, the load's fields, {@code heardMs}: record time). */
    private final TreeMap<String, Map<String, Object>> workers = new TreeMap<>();
    /** The number of live events applied so far: the {@code eventSeq} of the latest ({@link #applyLive}). */
    private long eventSeq;

    public DashboardState(int maxCalls) {
        this.maxCalls = maxCalls;
    }

    public int maxCalls() {
        return maxCalls;
    }

    /** Applies an event seen now. */
    public void apply(Map<String, Object> event) {
        apply(event, System.currentTimeMillis());
    }

    /**
     * Applies a live event (one that also goes out over SSE) and numbers it: {@code eventSeq} = 1, 2, 3... in the
     * order applied, put into the event, which the caller then publishes. The snapshot carries the number of the
     * latest event it holds, so a page that loads it knows which streamed events it already has (equal or lower) and
     * which it missed (a gap above its latest): it loads the snapshot again instead of showing a call without them.
     */
    public synchronized long applyLive(Map<String, Object> event, long timestampMs) {
        event.put("eventSeq", ++eventSeq);
        apply(event, timestampMs);
        return eventSeq;
    }

    /** The {@code eventSeq} of the latest live event applied (0 before the first). */
    public synchronized long eventSeq() {
        return eventSeq;
    }

    /** Applies an event whose record carries {@code timestampMs} (Kafka record time). */
    public synchronized void apply(Map<String, Object> event, long timestampMs) {
        String type = (String) event.get("type");
        if ("dead-letter".equals(type)) {
            deadLetters.addFirst(event);
            while (deadLetters.size() > MAX_DEAD_LETTERS) {
                deadLetters.removeLast();
            }
            return;
        }
        String callId = (String) event.get("callId");
        if (callId == null) {
            return;
        }
        CallView call = calls.computeIfAbsent(callId, CallView::new);
        call.firstMs = Math.min(call.firstMs, timestampMs);
        call.lastMs = Math.max(call.lastMs, timestampMs);
        switch (type) {
            case "call" -> call.apply(event);
            case "text" -> {
                call.turn((Integer) event.get("turnId")).text(event);
                worker(event, timestampMs);
            }
            case "caller-text" -> call.turn((Integer) event.get("turnId")).callerText(event);
            case "metrics" -> call.turn((Integer) event.get("turnId")).metrics(event);
            case "transcript" -> call.transcript(event);
            default -> { }
        }
        while (calls.size() > maxCalls) {
            String stalest = null;
            long oldest = Long.MAX_VALUE;
            for (CallView c : calls.values()) {
                if (c.lastMs < oldest) {
                    oldest = c.lastMs;
                    stalest = c.callId;
                }
            }
            calls.remove(stalest);
        }
    }

    /** Keeps the worker's load from a text event when it is the newest heard from that worker. */
    private void worker(Map<String, Object> event, long timestampMs) {
        String workerId = (String) event.get("workerId");
        @SuppressWarnings("unchecked")
        Map<String, Object> load = (Map<String, Object>) event.get("workerLoad");
        if (load == null || workerId == null || workerId.isEmpty()) {
            return;
        }
        Map<String, Object> seen = workers.get(workerId);
        if (seen != null && (Long) seen.get("stampedUs") > (Long) load.get("stampedUs")) {
            return; // an older delta read after a newer one (another partition; record times may tie to the ms)
        }
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("workerId", workerId);
        view.putAll(load);
        view.put("heardMs", timestampMs);
        workers.put(workerId, view);
        while (workers.size() > MAX_WORKERS) {
            workers.values().stream().min(java.util.Comparator.comparingLong(w -> (Long) w.get("heardMs")))
                    .ifPresent(w -> workers.remove((String) w.get("workerId")));
        }
    }

    /** The JSON-able snapshot: newest call first. */
    public synchronized Map<String, Object> snapshot() {
        List<Map<String, Object>> list = new ArrayList<>();
        calls.values().stream().sorted(java.util.Comparator.comparingLong((CallView c) -> c.firstMs).reversed())
                .forEach(c -> list.add(c.view()));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("eventSeq", eventSeq);
        out.put("calls", list);
        out.put("deadLetters", new ArrayList<>(deadLetters));
        List<Map<String, Object>> ws = new ArrayList<>();
        workers.values().forEach(w -> ws.add(new LinkedHashMap<>(w)));
        out.put("workers", ws);
        return out;
    }

    /**
     * One call's conversation as lines in the order they were spoken: per turn, the caller's line (when its text
     * is known) and then the bot's, the bot's cut to what the caller heard when the caller barged in. Empty when
     * the call is not (or no longer) in the view.
     */
    public synchronized java.util.Optional<Map<String, Object>> transcript(String callId) {
        CallView c = calls.get(callId);
        if (c == null) {
            return java.util.Optional.empty();
        }
        List<Map<String, Object>> lines = new ArrayList<>();
        for (TurnView t : c.turns.values()) {
            if (t.userText != null) {
                Map<String, Object> caller = new LinkedHashMap<>();
                caller.put("speaker", "caller");
                caller.put("turnId", t.turnId);
                caller.put("text", t.userText);
                caller.put("atUs", t.userEndedUs > 0 ? t.userEndedUs : null);
                lines.add(caller);
            }
            String said = t.text();
            if (!said.isEmpty() || t.attempt >= 0 || t.finalText != null) {
                Integer heard = t.heardChars();
                Map<String, Object> bot = new LinkedHashMap<>();
                bot.put("speaker", "bot");
                bot.put("turnId", t.turnId);
                bot.put("text", heard == null ? said : said.substring(0, Math.min(heard, said.length())));
                bot.put("interrupted", t.interrupted || t.bargedIn);
                bot.put("generatedChars", heard == null ? null
                        : t.generatedChars >= 0 ? Integer.valueOf(t.generatedChars) : Integer.valueOf(said.length()));
                bot.put("atUs", t.replyStartedUs > 0 ? t.replyStartedUs : null);
                lines.add(bot);
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("callId", callId);
        out.put("state", c.info.get("state"));
        out.put("lines", lines);
        return java.util.Optional.of(out);
    }

    private static final class CallView {
        final String callId;
        final Map<String, Object> info = new LinkedHashMap<>();
        final TreeMap<Integer, TurnView> turns = new TreeMap<>();
        long firstMs = Long.MAX_VALUE;
        long lastMs = Long.MIN_VALUE;

        CallView(String callId) {
            this.callId = callId;
            info.put("state", "unknown");
        }

        void apply(Map<String, Object> e) {
            switch ((String) e.get("kind")) {
                case "started" -> {
                    if (!"ended".equals(info.get("state"))) { // an end read before the start stays
                        info.put("state", "live");
                    }
                    info.put("from", e.get("from"));
                    info.put("to", e.get("to"));
                    info.put("codec", e.get("codec"));
                    info.put("startedUs", e.get("occurredUs"));
                }
                case "ended" -> {
                    info.put("state", "ended");
                    info.put("endReason", e.get("reason"));
                    info.put("endedUs", e.get("occurredUs"));
                }
                case "barge-in" -> turn((Integer) e.get("turnId")).bargeIn(e);
                case "dtmf" -> info.merge("dtmf", e.get("digit"), (a, b) -> a + "" + b);
                default -> { }
            }
        }

        void transcript(Map<String, Object> e) {
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> ts = (List<Map<String, Object>>) e.get("turns");
            for (Map<String, Object> t : ts) {
                turn((Integer) t.get("turnId")).transcript(t);
            }
            if (Boolean.TRUE.equals(e.get("ended"))) {
                info.put("state", "ended");
            }
        }

        TurnView turn(int turnId) {
            return turns.computeIfAbsent(turnId, TurnView::new);
        }

        Map<String, Object> view() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("callId", callId);
            m.putAll(info);
            List<Map<String, Object>> ts = new ArrayList<>();
            turns.values().forEach(t -> ts.add(t.view()));
            m.put("turns", ts);
            return m;
        }
    }

    private static final class TurnView {
        final int turnId;
        int attempt = -1;
        final TreeMap<Integer, String> pieces = new TreeMap<>();
        boolean last;
        boolean cancelled;
        boolean bargedIn;
        String userText;
        /** Attempt of the caller-text shown; the transcript's caller text (redacted as the topic is) wins over any. */
        int userAttempt = -1;
        boolean userFromTranscript;
        String language;
        String finalText;
        Object firstAudioMs;
        Object stagesMs;
        /** From the BargeIn: how much of the attempt's reply text was played (-1 unknown). */
        int playedTextChars = -1;
        int bargeInAttempt = -1;
        /** From the transcript. */
        boolean interrupted;
        String heardText;
        int generatedChars = -1;
        long userEndedUs;
        long replyStartedUs;

        TurnView(int turnId) {
            this.turnId = turnId;
        }

        void text(Map<String, Object> e) {
            int a = (Integer) e.get("attempt");
            if (a < attempt) {
                return; // a late delta of an abandoned attempt
            }
            if (a > attempt) {
                attempt = a;
                pieces.clear();
                last = false;
                cancelled = false;
            }
            pieces.put((Integer) e.get("seq"), (String) e.get("text"));
            last |= Boolean.TRUE.equals(e.get("last"));
            cancelled |= Boolean.TRUE.equals(e.get("cancelled"));
        }

        void callerText(Map<String, Object> e) {
            int a = (Integer) e.get("attempt");
            if (userFromTranscript || a < userAttempt) {
                return;
            }
            userAttempt = a;
            userText = (String) e.get("text");
            language = (String) e.get("language");
        }

        void bargeIn(Map<String, Object> e) {
            bargedIn = true;
            int a = (Integer) e.get("attempt");
            Object played = e.get("playedTextChars");
            if (a >= bargeInAttempt && played instanceof Integer p) {
                bargeInAttempt = a;
                playedTextChars = p;
            }
        }

        void transcript(Map<String, Object> t) {
            if (t.get("userText") != null) { // a transcript without caller text must not erase one already shown
                userText = (String) t.get("userText");
                userFromTranscript = true;
            }
            String assistant = (String) t.get("assistantText");
            if (pieces.isEmpty()) {
                finalText = assistant;
            }
            interrupted = Boolean.TRUE.equals(t.get("interrupted"));
            heardText = interrupted ? assistant : null;
            generatedChars = t.get("generatedChars") instanceof Integer g ? g : -1;
            userEndedUs = t.get("userEndedUs") instanceof Long u ? u : 0;
            replyStartedUs = t.get("replyStartedUs") instanceof Long r ? r : 0;
        }

        /**
         * Characters of the reply the caller heard, when the reply was cut: the transcript's (what the topic keeps)
         * or, before it arrives, the BargeIn's playedTextChars; null when not cut or not known.
         */
        Integer heardChars() {
            if (heardText != null) {
                return heardText.length();
            }
            if (bargedIn && playedTextChars >= 0 && bargeInAttempt == attempt) {
                return playedTextChars;
            }
            return null;
        }

        void metrics(Map<String, Object> e) {
            firstAudioMs = e.get("firstAudioMs");
            stagesMs = e.get("stagesMs");
        }

        /** The reply text as streamed (every piece of the attempt), or the transcript's when no piece was seen. */
        String text() {
            return pieces.isEmpty() && finalText != null ? finalText : String.join("", pieces.values());
        }

        Map<String, Object> view() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("turnId", turnId);
            m.put("attempt", attempt);
            m.put("text", text());
            List<List<Object>> seqAndText = new ArrayList<>();
            pieces.forEach((seq, text) -> seqAndText.add(List.of(seq, text)));
            m.put("pieces", seqAndText);
            m.put("finalText", finalText);
            m.put("last", last);
            m.put("cancelled", cancelled);
            m.put("bargedIn", bargedIn);
            m.put("userText", userText);
            m.put("language", language);
            m.put("interrupted", interrupted || bargedIn);
            m.put("heardChars", heardChars());
            m.put("generatedChars", generatedChars >= 0 ? generatedChars : null);
            m.put("userEndedUs", userEndedUs > 0 ? userEndedUs : null);
            m.put("replyStartedUs", replyStartedUs > 0 ? replyStartedUs : null);
            m.put("firstAudioMs", firstAudioMs);
            m.put("stagesMs", stagesMs);
            return m;
        }
    }
}
