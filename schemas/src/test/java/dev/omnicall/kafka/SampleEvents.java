package dev.omnicall.kafka;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.Codec;
import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.EndReason;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;

import java.nio.ByteBuffer;
import java.util.List;

/** One valid example of every event, for serde and broker tests in every module (test-jar). */
public final class SampleEvents {

    private SampleEvents() {
    }

    public static TurnTimings timings() {
        return TurnTimings.newBuilder().setSpeechEndUs(1_000L).setEndOfTurnUs(1_500L).build();
    }

    public static CallEvent callStarted(String callId) {
        return CallEvent.newBuilder().setCallId(callId).setBridgeId("bridge-1").setOccurredUs(10L)
                .setPayload(CallStarted.newBuilder().setFrom("sip:alice@127.0.0.1").setTo("sip:bot@127.0.0.1")
                        .setCodec(Codec.PCMU).setPtimeMs(20).build())
                .build();
    }

    public static CallEvent callEnded(String callId) {
        return CallEvent.newBuilder().setCallId(callId).setBridgeId("bridge-1").setOccurredUs(20L)
                .setPayload(CallEnded.newBuilder().setReason(EndReason.CALLER_HANGUP).build())
                .build();
    }

    public static AudioSegment segment(String callId, int utterance, int seq, boolean last) {
        return AudioSegment.newBuilder().setCallId(callId).setUtteranceId(utterance).setSeq(seq)
                .setPcm(ByteBuffer.wrap(new byte[]{1, 2, 3, 4})).setVoiced(true).setEndOfUtterance(last)
                .setCaptureStartUs(100L).setCaptureEndUs(200L).setTimings(last ? timings() : null).build();
    }

    public static TurnRequest turnRequest(String callId) {
        return TurnRequest.newBuilder().setCallId(callId).setTurnId(1).setAudio(ByteBuffer.wrap(new byte[]{5, 6}))
                .setHistory(List.of(ConversationTurn.newBuilder().setTurnId(0).setUserText("hi")
                        .setAssistantText("hello").build()))
                .setTimings(timings()).build();
    }

    public static TextDelta textDelta(String callId) {
        return TextDelta.newBuilder().setCallId(callId).setTurnId(1).setAttempt(0).setSeq(0).setText("Hello")
                .setLast(false).setTimings(timings()).build();
    }

    public static AudioChunk audioChunk(String callId) {
        return AudioChunk.newBuilder().setCallId(callId).setTurnId(1).setAttempt(0).setSeq(0)
                .setPcm(ByteBuffer.wrap(new byte[640])).setUnitCount(10).setLast(false).setTimings(timings()).build();
    }

    public static CallerText callerText(String callId) {
        return CallerText.newBuilder().setCallId(callId).setTurnId(1).setAttempt(0).setText("what time do you open")
                .setLanguage("en").setTokenCount(5).setAudioMs(1800).setDecodeStartUs(1L).setDecodeDoneUs(2L)
                .setTimings(timings()).build();
    }

    public static TurnMetrics turnMetrics(String callId) {
        return TurnMetrics.newBuilder().setCallId(callId).setTurnId(1).setAttempt(0).setTimings(timings())
                .setVadWaitUs(500L).build();
    }

    public static Transcript transcript(String callId) {
        return Transcript.newBuilder().setCallId(callId).setTurns(List.of(TranscriptTurn.newBuilder().setTurnId(0)
                .setUserText(null).setAssistantText("hello").setCompletedUs(5L).build())).setUpdatedUs(6L).build();
    }

    private static final DeadLetter DEAD_LETTER = DeadLetters.of("caller-audio", 0, 42L, "c1".getBytes(), new byte[]{9}, "deserialize",
                new IllegalStateException("bad"), "test");

    public static DeadLetter deadLetter() {
        return DeadLetter.newBuilder(DEAD_LETTER).build();
    }
}
