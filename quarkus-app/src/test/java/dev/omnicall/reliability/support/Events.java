package dev.omnicall.reliability.support;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.Codec;
import dev.omnicall.events.EndReason;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.Clock;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.SplittableRandom;

/** Valid pipeline events, as the roles would write them, for feeding one role without the others. */
public final class Events {

    private Events() {
    }

    /** A deterministic 16 kHz S16LE test utterance: two tones and a little noise. */
    public static byte[] utterance(double seconds, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = (int) (seconds * 16000);
        ByteBuffer b = ByteBuffer.allocate(n * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            double t = i / 16000.0;
            double x = 0.3 * Math.sin(2 * Math.PI * 220 * t) + 0.2 * Math.sin(2 * Math.PI * 1375 * t) + 0.02 * r.nextGaussian();
            b.putShort((short) Math.round(x * 32767));
        }
        return b.array();
    }

    public static TurnTimings timings() {
        return TurnTimings.newBuilder().build();
    }

    public static AudioSegment segment(String callId, int utterance, int seq, int samples, boolean end) {
        long t = Clock.nowMicros();
        return AudioSegment.newBuilder().setCallId(callId).setUtteranceId(utterance).setSeq(seq).setSampleRate(16000)
                .setPcm(ByteBuffer.wrap(utterance(samples / 16000.0, 31L * utterance + seq))).setVoiced(true)
                .setSpeechProbability(0.9f).setEndOfUtterance(end).setCaptureStartUs(t).setCaptureEndUs(t + samples * 1_000_000L / 16000)
                .setTimings(end ? TurnTimings.newBuilder().setSpeechEndUs(t).setEndOfTurnUs(t).setSegmentProducedUs(t).build() : null)
                .build();
    }

    public static TurnRequest turnRequest(String callId, int turnId, byte[] audio) {
        return TurnRequest.newBuilder().setCallId(callId).setTurnId(turnId).setAttempt(0).setSampleRate(16000)
                .setAudio(ByteBuffer.wrap(audio)).setHistory(List.of()).setTimings(timings()).build();
    }

    public static TextDelta delta(String callId, int turnId, int attempt, int seq, String text, boolean last) {
        return TextDelta.newBuilder().setCallId(callId).setTurnId(turnId).setAttempt(attempt).setSeq(seq).setText(text)
                .setLast(last).setCancelled(false).setWorkerId("test-worker").setTimings(timings()).build();
    }

    public static AudioChunk chunk(String callId, int turnId, int attempt, int seq, byte[] pcm16k, boolean last) {
        return AudioChunk.newBuilder().setCallId(callId).setTurnId(turnId).setAttempt(attempt).setSeq(seq)
                .setSampleRate(16000).setPcm(ByteBuffer.wrap(pcm16k)).setUnitCount(pcm16k.length / 640).setLast(last)
                .setWorkerId("test-worker").setTimings(timings()).build();
    }

    public static CallEvent callStarted(String callId) {
        return CallEvent.newBuilder().setCallId(callId).setBridgeId("test-bridge").setOccurredUs(Clock.nowMicros())
                .setPayload(CallStarted.newBuilder().setFrom("sip:a@127.0.0.1").setTo("sip:bot@127.0.0.1")
                        .setCodec(Codec.PCMU).setPtimeMs(20).build()).build();
    }

    public static CallEvent callEnded(String callId, EndReason reason) {
        return CallEvent.newBuilder().setCallId(callId).setBridgeId("test-bridge").setOccurredUs(Clock.nowMicros())
                .setPayload(CallEnded.newBuilder().setReason(reason).setDetail("test").build()).build();
    }
}
