package dev.omnicall.bridge.kafka;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.EndReason;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.TurnTrace;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The bridge's side of a turn's trace: the end-of-utterance segment gets the hook's headers, and an attempt's first
 * AudioChunk's traceparent and stamps wait until its PlaybackStarted, whose hook gets them with the bridge's two stamps.
 */
class ReplyTracesTest {

    private static final String CALL = "c1";
    private static final String WORKER_CONTEXT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /** What the playbackStarted hook was given. */
    private record Playback(String traceparent, String callId, int turnId, int attempt, TurnTimings timings) {
    }

    /** What the playbackCancelled hook was given. */
    private record Cancel(String traceparent, String callId, int turnId, int attempt, TurnTimings timings,
                          long cancelledUs, String reason) {
    }

    private final List<Playback> playbacks = new ArrayList<>();
    private final List<Cancel> cancels = new ArrayList<>();
    /** The bridge's clock as the chunks are consumed. */
    private long nowUs = 7_050L;
    private final ReplyTraces traces = new ReplyTraces(new TurnTrace() {
        @Override
        public Headers utteranceEnded(AudioSegment endOfUtterance) {
            return headers("00-11111111111111111111111111111111-2222222222222222-01");
        }

        @Override
        public Headers playbackStarted(Headers in, String callId, int turnId, int attempt, TurnTimings timings) {
            byte[] tp = TurnTrace.traceparent(in);
            playbacks.add(new Playback(tp == null ? null : new String(tp, StandardCharsets.UTF_8), callId, turnId,
                    attempt, timings));
            return headers("00-11111111111111111111111111111111-3333333333333333-01");
        }

        @Override
        public void playbackCancelled(Headers in, String callId, int turnId, int attempt, TurnTimings timings,
                                      long cancelledUs, String reason) {
            byte[] tp = TurnTrace.traceparent(in);
            cancels.add(new Cancel(tp == null ? null : new String(tp, StandardCharsets.UTF_8), callId, turnId, attempt,
                    timings, cancelledUs, reason));
        }
    }, () -> nowUs);

    @Test
    void shouldHandTheFirstChunksContextAndStampsToThePlaybackHookWithTheBridgesStamps() {
        // Given the first two chunks of attempt 1 of turn 2, the first with the worker's context
        traces.chunk(headers(WORKER_CONTEXT), chunk(2, 1, 0, 7_000L));
        traces.chunk(headers("00-99999999999999999999999999999999-9999999999999999-01"), chunk(2, 1, 1, 8_000L));

        // When its reply's first RTP packet goes out
        Headers out = traces.callEvent(playbackStarted(2, 1, 7_100L, 7_300L));

        // Then the hook gets seq 0's context and stamps, the bridge's two stamps filled in, and its headers go on
        assertThat(playbacks).singleElement().satisfies(p -> {
            assertThat(p.traceparent()).isEqualTo(WORKER_CONTEXT);
            assertThat(p.turnId()).isEqualTo(2);
            assertThat(p.attempt()).isEqualTo(1);
            assertThat(p.timings().getFirstAudioUs()).isEqualTo(7_000L);
            assertThat(p.timings().getChunkReceivedUs()).isEqualTo(7_100L);
            assertThat(p.timings().getFirstRtpUs()).isEqualTo(7_300L);
        });
        assertThat(new String(TurnTrace.traceparent(out), StandardCharsets.UTF_8)).endsWith("-3333333333333333-01");
        assertThat(traces.pending()).isZero();
    }

    @Test
    void shouldGiveThePlaybackHookNoContextWhenTheFirstChunkCameWithout() {
        traces.chunk(new RecordHeaders(), chunk(0, 0, 0, 7_000L));

        traces.callEvent(playbackStarted(0, 0, 7_100L, 7_300L));

        assertThat(playbacks).singleElement().satisfies(p -> {
            assertThat(p.traceparent()).isNull();
            assertThat(p.timings().getFirstAudioUs()).isEqualTo(7_000L);
        });
    }

    @Test
    void shouldForgetTheCallsWaitingChunksAtCallEndedAndKeepOtherCalls() {
        // Given replies of two calls that never played (barged into before their first packet)
        traces.chunk(headers(WORKER_CONTEXT), chunk(0, 0, 0, 7_000L));
        traces.chunk(headers(WORKER_CONTEXT), AudioChunk.newBuilder(chunk(0, 0, 0, 7_000L)).setCallId("c2").build());

        // When the first call ends
        traces.callEvent(CallEvent.newBuilder().setCallId(CALL).setBridgeId("b0").setOccurredUs(9_000L)
                .setPayload(CallEnded.newBuilder().setReason(EndReason.CALLER_HANGUP).build()).build());

        // Then the ended call's reply ends its trace as cancelled at the CallEnded; only the other call's still waits
        assertThat(cancels).singleElement().satisfies(c -> {
            assertThat(c.callId()).isEqualTo(CALL);
            assertThat(c.reason()).isEqualTo("call-ended");
            assertThat(c.cancelledUs()).isEqualTo(9_000L);
        });
        assertThat(traces.pending()).isEqualTo(1);
    }

    @Test
    void shouldEndTheTraceOfAFirstChunkThatNeverPlayedWhenItsTurnIsBargedInto() {
        // Given the first chunk of turn 2 attempt 1, consumed at 7.05 ms, and one of turn 3
        traces.chunk(headers(WORKER_CONTEXT), chunk(2, 1, 0, 7_000L));
        traces.chunk(headers(WORKER_CONTEXT), chunk(3, 0, 0, 8_000L));

        // When the caller barges into turn 2 before its first packet
        traces.callEvent(bargeIn(2, false, 9_000L));

        // Then the hook ends turn 2's trace with the chunk's context and stamps, received when consumed
        assertThat(cancels).singleElement().satisfies(c -> {
            assertThat(c.traceparent()).isEqualTo(WORKER_CONTEXT);
            assertThat(c.turnId()).isEqualTo(2);
            assertThat(c.attempt()).isEqualTo(1);
            assertThat(c.timings().getFirstAudioUs()).isEqualTo(7_000L);
            assertThat(c.timings().getChunkReceivedUs()).isEqualTo(7_050L);
            assertThat(c.timings().getFirstRtpUs()).isNull();
            assertThat(c.cancelledUs()).isEqualTo(9_000L);
            assertThat(c.reason()).isEqualTo("barge-in");
        });
        // And turn 3's still waits for its first packet
        assertThat(traces.pending()).isEqualTo(1);
    }

    @Test
    void shouldSayASpeculativeTurnWasNotConfirmedWhenItsHeldReplyIsDropped() {
        traces.chunk(headers(WORKER_CONTEXT), chunk(4, 0, 0, 7_000L));

        traces.callEvent(bargeIn(4, true, 9_500L));

        assertThat(cancels).singleElement().satisfies(c -> assertThat(c.reason()).isEqualTo("speculation-cancelled"));
        assertThat(traces.pending()).isZero();
    }

    @Test
    void shouldNotCancelAReplyThatAlreadyPlayedWhenTheCallerBargesIntoIt() {
        // Given a reply whose first packet went out
        traces.chunk(headers(WORKER_CONTEXT), chunk(2, 0, 0, 7_000L));
        traces.callEvent(playbackStarted(2, 0, 7_100L, 7_300L));

        // When the caller speaks over it, then the call ends
        traces.callEvent(bargeIn(2, false, 9_000L));
        traces.callEvent(CallEvent.newBuilder().setCallId(CALL).setBridgeId("b0").setOccurredUs(9_900L)
                .setPayload(CallEnded.newBuilder().setReason(EndReason.CALLER_HANGUP).build()).build());

        // Then its trace ended once, at its first packet
        assertThat(playbacks).hasSize(1);
        assertThat(cancels).isEmpty();
    }

    @Test
    void shouldKeepAtMostMaxPendingAttemptsTheOldestGoingFirst() {
        for (int turn = 0; turn < ReplyTraces.MAX_PENDING + 10; turn++) {
            traces.chunk(headers(WORKER_CONTEXT), chunk(turn, 0, 0, 7_000L));
        }
        assertThat(traces.pending()).isEqualTo(ReplyTraces.MAX_PENDING);

        traces.callEvent(playbackStarted(0, 0, 7_100L, 7_300L));
        assertThat(playbacks).singleElement().satisfies(p -> assertThat(p.traceparent()).isNull());
    }

    @Test
    void shouldPutTheHooksHeadersOnTheEndOfUtteranceSegmentOnly() {
        assertThat(TurnTrace.traceparent(traces.segment(segment(true)))).isNotNull();
        assertThat(traces.segment(segment(false)).toArray()).isEmpty();
    }

    private static Headers headers(String traceparent) {
        RecordHeaders h = new RecordHeaders();
        h.add(TurnTrace.TRACEPARENT, traceparent.getBytes(StandardCharsets.UTF_8));
        return h;
    }

    private static AudioChunk chunk(int turn, int attempt, int seq, long firstAudioUs) {
        return AudioChunk.newBuilder().setCallId(CALL).setTurnId(turn).setAttempt(attempt).setSeq(seq)
                .setPcm(ByteBuffer.allocate(0)).setUnitCount(10).setLast(false)
                .setTimings(TurnTimings.newBuilder().setFirstAudioUs(firstAudioUs).build()).build();
    }

    private static CallEvent playbackStarted(int turn, int attempt, long chunkReceivedUs, long firstRtpUs) {
        return CallEvent.newBuilder().setCallId(CALL).setBridgeId("b0").setOccurredUs(firstRtpUs).setPayload(PlaybackStarted.newBuilder()
                .setTurnId(turn).setAttempt(attempt).setChunkReceivedUs(chunkReceivedUs).setFirstRtpUs(firstRtpUs)
                .build()).build();
    }

    private static CallEvent bargeIn(int turn, boolean speculative, long atUs) {
        return CallEvent.newBuilder().setCallId(CALL).setBridgeId("b0").setOccurredUs(atUs).setPayload(BargeIn.newBuilder()
                .setTurnId(turn).setAttempt(0).setPlayedMs(0).setPlayedTextChars(0).setSpeculative(speculative).build())
                .build();
    }

    private static AudioSegment segment(boolean endOfUtterance) {
        return AudioSegment.newBuilder().setCallId(CALL).setUtteranceId(0).setSeq(0).setPcm(ByteBuffer.allocate(0))
                .setVoiced(true).setEndOfUtterance(endOfUtterance).setCaptureStartUs(0L).setCaptureEndUs(0L).build();
    }
}
