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
 */
public final class DashboardState {

    static final int MAX_DEAD_LETTERS = 20;

    private final int maxCalls;
    private final LinkedHashMap<String, CallView> calls = new LinkedHashMap<>();
    private final Deque<Map<String, Object>> deadLetters = new ArrayDeque<>();

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
            case "text" -> call.turn((Integer) event.get("turnId")).text(event);
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

    /** The JSON-able snapshot: newest call first. */
    public synchronized Map<String, Object> snapshot() {
        List<Map<String, Object>> list = new ArrayList<>();
        calls.values().stream().sorted(java.util.Comparator.comparingLong((CallView c) -> c.firstMs).reversed())
                .forEach(c -> list.add(c.view()));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("calls", list);
        out.put("deadLetters", new ArrayList<>(deadLetters));
        return out;
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
                case "barge-in" -> turn((Integer) e.get("turnId")).bargedIn = true;
                case "dtmf" -> info.merge("dtmf", e.get("digit"), (a, b) -> a + "" + b);
                default -> { }
            }
        }

        void transcript(Map<String, Object> e) {
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> ts = (List<Map<String, Object>>) e.get("turns");
            for (Map<String, Object> t : ts) {
                TurnView v = turn((Integer) t.get("turnId"));
                if (t.get("userText") != null) { // a transcript without caller text must not erase one already shown
                    v.userText = (String) t.get("userText");
                }
                if (v.pieces.isEmpty()) {
                    v.finalText = (String) t.get("assistantText");
                }
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
        String finalText;
        Object firstAudioMs;
        Object stagesMs;

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

        void metrics(Map<String, Object> e) {
            firstAudioMs = e.get("firstAudioMs");
            stagesMs = e.get("stagesMs");
        }

        Map<String, Object> view() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("turnId", turnId);
            m.put("attempt", attempt);
            m.put("text", pieces.isEmpty() && finalText != null ? finalText : String.join("", pieces.values()));
            List<List<Object>> seqAndText = new ArrayList<>();
            pieces.forEach((seq, text) -> seqAndText.add(List.of(seq, text)));
            m.put("pieces", seqAndText);
            m.put("finalText", finalText);
            m.put("last", last);
            m.put("cancelled", cancelled);
            m.put("bargedIn", bargedIn);
            m.put("userText", userText);
            m.put("firstAudioMs", firstAudioMs);
            m.put("stagesMs", stagesMs);
            return m;
        }
    }
}
