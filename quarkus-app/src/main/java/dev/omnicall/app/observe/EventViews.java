package dev.omnicall.app.observe;

import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.Dtmf;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.WorkerLoad;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON shape of each event the dashboard receives over SSE: a flat map with a {@code type}
 * ({@code call}, {@code text}, {@code caller-text}, {@code transcript}, {@code metrics}, {@code dead-letter}).
 * Latencies are in milliseconds. Dead letters carry the error, never the original bytes (they may hold caller audio).
 */
public final class EventViews {

    private EventViews() {
    }

    public static Map<String, Object> call(CallEvent e) {
        Map<String, Object> m = base("call", e.getCallId());
        m.put("bridgeId", e.getBridgeId());
        m.put("occurredUs", e.getOccurredUs());
        Object p = e.getPayload();
        if (p instanceof CallStarted s) {
            m.put("kind", "started");
            m.put("from", s.getFrom());
            m.put("to", s.getTo());
            m.put("codec", String.valueOf(s.getCodec()));
        } else if (p instanceof CallEnded s) {
            m.put("kind", "ended");
            m.put("reason", String.valueOf(s.getReason()));
            m.put("detail", s.getDetail());
        } else if (p instanceof BargeIn s && s.getSpeculative()) {
            // the caller went on before a speculative turn's end was confirmed: nothing of it played
            m.put("kind", "speculation-cancelled");
            m.put("turnId", s.getTurnId());
        } else if (p instanceof dev.omnicall.events.TurnConfirmed s) {
            m.put("kind", "speculation-confirmed");
            m.put("turnId", s.getTurnId());
            m.put("tentativeEndUs", s.getTentativeEndUs());
            m.put("confirmedUs", s.getConfirmedUs());
        } else if (p instanceof BargeIn s) {
            m.put("kind", "barge-in");
            m.put("turnId", s.getTurnId());
            m.put("attempt", s.getAttempt());
            // -1: a bridge older than CallEvent v3 did not say how much of the reply went out
            m.put("playedMs", s.getPlayedMs());
            m.put("playedTextChars", s.getPlayedTextChars());
        } else if (p instanceof Dtmf s) {
            m.put("kind", "dtmf");
            m.put("digit", s.getDigit());
        } else if (p instanceof PlaybackStarted s) {
            m.put("kind", "playback");
            m.put("turnId", s.getTurnId());
            m.put("attempt", s.getAttempt());
            m.put("confirmedUs", s.getConfirmedUs()); // 0: not a speculative turn
        } else {
            m.put("kind", "unknown");
        }
        return m;
    }

    public static Map<String, Object> text(TextDelta d) {
        Map<String, Object> m = base("text", d.getCallId());
        m.put("turnId", d.getTurnId());
        m.put("attempt", d.getAttempt());
        m.put("seq", d.getSeq());
        m.put("text", d.getText());
        m.put("last", d.getLast());
        m.put("cancelled", d.getCancelled());
        m.put("workerId", d.getWorkerId());
        m.put("workerLoad", workerLoad(d.getWorkerLoad()));
        return m;
    }

    /**
     * The worker's load as its TextDelta carried it (null from workers before TextDelta v3): running and waiting
     * turns, the least playback margin in ms (null when no turn has sent audio: no margin, not 0), whether real-time
     * admission holds newcomers, and the rule's margin in ms (null when admission is off).
     */
    static Map<String, Object> workerLoad(WorkerLoad load) {
        if (load == null) {
            return null;
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("stampedUs", load.getStampedUs());
        m.put("runningTurns", load.getRunningTurns());
        m.put("waitingTurns", load.getWaitingTurns());
        m.put("leastMarginMs", load.getLeastMarginUs() == null ? null : Math.round(load.getLeastMarginUs() / 1000.0));
        m.put("admissionHolding", load.getAdmissionHolding());
        m.put("admissionMarginMs", load.getAdmissionMarginUs() == null ? null
                : Math.round(load.getAdmissionMarginUs() / 1000.0));
        return m;
    }

    /**
     * What the caller said in one turn, as the worker's Whisper decoder heard it. {@code text} has already been
     * through {@code redact} (the identity unless transcript redaction is on), so the dashboard never shows
     * more of the caller's words than the transcripts topic does.
     */
    public static Map<String, Object> callerText(CallerText c, java.util.function.UnaryOperator<String> redact) {
        Map<String, Object> m = base("caller-text", c.getCallId());
        m.put("turnId", c.getTurnId());
        m.put("attempt", c.getAttempt());
        m.put("text", redact.apply(c.getText()));
        m.put("language", c.getLanguage());
        m.put("tokenCount", c.getTokenCount());
        m.put("truncated", c.getTruncated());
        m.put("audioMs", c.getAudioMs());
        m.put("decodeMs", millis(c.getDecodeDoneUs() - c.getDecodeStartUs()));
        m.put("decodeCpuMs", millis(c.getDecodeCpuUs()));
        m.put("workerId", c.getWorkerId());
        return m;
    }

    public static Map<String, Object> transcript(Transcript t) {
        Map<String, Object> m = base("transcript", t.getCallId());
        List<Map<String, Object>> turns = new ArrayList<>();
        for (TranscriptTurn turn : t.getTurns()) {
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("turnId", turn.getTurnId());
            v.put("userText", turn.getUserText());
            v.put("assistantText", turn.getAssistantText());
            v.put("interrupted", turn.getInterrupted());
            v.put("completedUs", turn.getCompletedUs());
            v.put("userEndedUs", turn.getUserEndedUs());
            v.put("replyStartedUs", turn.getReplyStartedUs());
            v.put("generatedChars", turn.getGeneratedChars());
            turns.add(v);
        }
        m.put("turns", turns);
        m.put("dtmf", t.getDtmf());
        m.put("ended", t.getEnded());
        return m;
    }

    public static Map<String, Object> metrics(TurnMetrics t) {
        Map<String, Object> m = base("metrics", t.getCallId());
        m.put("turnId", t.getTurnId());
        m.put("attempt", t.getAttempt());
        m.put("firstAudioMs", millis(t.getFirstAudioLatencyUs()));
        m.put("speculation", String.valueOf(t.getSpeculation()));
        m.put("endOfTurnConfirmMs", millis(t.getEndOfTurnConfirmUs()));
        m.put("confirmWaitMs", millis(t.getConfirmWaitUs()));
        m.put("cancelledWorkMs", millis(t.getCancelledWorkUs()));
        Map<String, Object> stages = new LinkedHashMap<>();
        PipelineMetrics.stageValues(t).forEach((stage, us) -> stages.put(stage, millis(us)));
        m.put("stagesMs", stages);
        return m;
    }

    public static Map<String, Object> deadLetter(String key, DeadLetter d) {
        Map<String, Object> m = base("dead-letter", key);
        m.put("sourceTopic", d.getSourceTopic());
        m.put("partition", d.getPartition());
        m.put("offset", d.getOffset());
        m.put("stage", d.getStage());
        m.put("errorClass", d.getErrorClass());
        m.put("errorMessage", d.getErrorMessage());
        m.put("application", d.getApplication());
        m.put("occurredUs", d.getOccurredUs());
        return m;
    }

    private static Map<String, Object> base(String type, String callId) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", type);
        m.put("callId", callId);
        return m;
    }

    static Double millis(Long us) {
        return us == null ? null : Math.round(us / 100.0) / 10.0;
    }
}
