package dev.omnicall.bridge.kafka;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
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

    private final List<Playback> playbacks = new ArrayList<>();
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
    });

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

        // Then only the other call's chunk still waits
        assertThat(traces.pending()).isEqualTo(1);
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

    private static AudioSegment segment(boolean endOfUtterance) {
        return AudioSegment.newBuilder().setCallId(CALL).setUtteranceId(0).setSeq(0).setPcm(ByteBuffer.allocate(0))
                .setVoiced(true).setEndOfUtterance(endOfUtterance).setCaptureStartUs(0L).setCaptureEndUs(0L).build();
    }
}
