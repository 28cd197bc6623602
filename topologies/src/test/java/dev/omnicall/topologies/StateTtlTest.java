package dev.omnicall.topologies;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.Topics;
import dev.omnicall.state.ConversationState;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The safety net for a CallEnded that never comes (a bridge lost for good): state of a call not seen for
 * {@code stateTtl} is removed by a wall-clock punctuator, silently, and counted.
 */
class StateTtlTest {

    private static final int SAMPLES = 1600;
    private static final Duration TTL = Duration.ofHours(1);
    private static final List<String> STORES = List.of(ConversationTopology.SEGMENT_STORE, ConversationTopology.PROGRESS_STORE,
            ConversationTopology.CONTEXT_STORE, ConversationTopology.TRANSCRIPT_STORE, ConversationTopology.METRICS_STORE);

    @RegisterExtension
    final TopologyFixture topology = new TopologyFixture();
    private ConversationDriver d;

    private void open(Duration ttl) {
        d = topology.open(ConversationConfig.defaults().withStateTtl(ttl));
    }

    /** Entries the call has, per store (stores where it has none are left out). */
    private Map<String, Integer> entriesOf(String callId) {
        Map<String, Integer> out = new TreeMap<>();
        for (String name : STORES) {
            List<String> keys = d.keysOf(name, callId);
            if (!keys.isEmpty()) {
                out.put(name, keys.size());
            }
        }
        return out;
    }

    /** A call with an entry in every store: an answered turn, an unfinished utterance, a reply still in prefill. */
    private void liveCallWithStateEverywhere(String callId) {
        d.events.pipeInput(callId, ConversationDriver.started(callId));
        d.sendUtterance(callId, 0, 1, SAMPLES);
        d.reply(callId, 0, 0, "Hello");
        d.sendUtterance(callId, 1, 1, SAMPLES);
        d.chunks.pipeInput(callId, AudioChunk.newBuilder().setCallId(callId).setTurnId(1).setAttempt(0).setSeq(0)
                .setPcm(ByteBuffer.allocate(640)).setUnitCount(10).setLast(false).setTimings(new TurnTimings()).build());
        d.audio.pipeInput(callId, ConversationDriver.segment(callId, 2, 0, SAMPLES, false));
        d.requests.readValuesToList();
        d.transcripts.readValuesToList();
    }

    @Test
    void shouldRemoveEveryEntryOfACallNotSeenForTheTtlAndCountIt() {
        // Given a call with state in every store whose CallEnded never comes, and another call
        open(TTL);
        liveCallWithStateEverywhere("lost");
        liveCallWithStateEverywhere("other");
        Map<String, Integer> before = entriesOf("lost");
        assertThat(before).containsOnlyKeys(STORES);
        int entries = before.values().stream().mapToInt(Integer::intValue).sum();

        // When the TTL passes while the other call is still heard from
        d.advanceWallClock(TTL.minusMinutes(5));
        d.audio.pipeInput("other", ConversationDriver.segment("other", 2, 1, SAMPLES, false));
        d.advanceWallClock(Duration.ofMinutes(6));

        // Then the lost call has nothing left anywhere, silently; the other call keeps everything
        assertThat(entriesOf("lost")).isEmpty();
        assertThat(entriesOf("other")).containsOnlyKeys(STORES);
        assertThat(d.transcripts.isEmpty()).isTrue();
        assertThat(d.turnMetrics.isEmpty()).isTrue();
        assertThat(d.metrics.get(TopologyMetrics.CALLS_EXPIRED)).isEqualTo(1);
        assertThat(d.metrics.get(TopologyMetrics.EXPIRED_STATE_ENTRIES)).isEqualTo(entries);
        System.out.printf("test=shouldRemoveEveryEntryOfACallNotSeenForTheTtlAndCountIt ttl=%s entries_removed=%d per_store=%s%n",
                TTL, entries, before);
    }

    @Test
    void shouldKeepACallThatIsHeardFromWithinTheTtl() {
        // Given a call heard from every 50 minutes under a one-hour TTL
        open(TTL);
        liveCallWithStateEverywhere("call-1");

        // When 100 minutes pass with a record in the middle
        d.advanceWallClock(Duration.ofMinutes(50));
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new dev.omnicall.events.Dtmf("1", 80)));
        d.advanceWallClock(Duration.ofMinutes(50));

        // Then nothing expired; an hour after that record, it does
        assertThat(entriesOf("call-1")).containsOnlyKeys(STORES);
        assertThat(d.metrics.get(TopologyMetrics.CALLS_EXPIRED)).isZero();
        d.advanceWallClock(Duration.ofMinutes(11));
        assertThat(entriesOf("call-1")).isEmpty();
        assertThat(d.metrics.get(TopologyMetrics.CALLS_EXPIRED)).isEqualTo(1);
    }

    @Test
    void shouldRefuseLateRecordsOfAnExpiredCall() {
        // Given a call that expired
        open(TTL);
        liveCallWithStateEverywhere("call-1");
        d.advanceWallClock(TTL.plusMinutes(1));
        assertThat(d.metrics.get(TopologyMetrics.CALLS_EXPIRED)).isEqualTo(1);

        // When its bridge comes back to life with more audio
        d.sendUtterance("call-1", 5, 1, SAMPLES);

        // Then it is refused like a record after CallEnded: no inference, no state
        assertThat(d.requests.isEmpty()).isTrue();
        assertThat(entriesOf("call-1")).isEmpty();
        assertThat(d.metrics.get(TopologyMetrics.RECORDS_AFTER_CALL_ENDED + "{" + Topics.CALLER_AUDIO.name() + "}")).isEqualTo(1);
    }

    @Test
    void shouldNotSweepLiveCallsWhenTheTtlIsZero() {
        // Given the sweep turned off
        open(Duration.ZERO);
        liveCallWithStateEverywhere("call-1");

        // When ten hours pass
        d.advanceWallClock(Duration.ofHours(10));

        // Then the call keeps its state
        assertThat(entriesOf("call-1")).containsOnlyKeys(STORES);
        assertThat(d.metrics.get(TopologyMetrics.CALLS_EXPIRED)).isZero();
    }

    @Test
    void shouldExpireStateWrittenBeforeTheActivityStoreExisted() {
        // Given a context left behind by an older build (no activity entry: a BUG-3 leftover in the changelog)
        open(TTL);
        KeyValueStore<String, ConversationState> ctx = d.driver.getKeyValueStore(ConversationTopology.CONTEXT_STORE);
        ctx.put("leftover", ConversationState.newBuilder().setTurns(List.of()).setPending(List.of()).setDrafts(List.of()).build());

        // When the first sweep runs, and then the TTL passes
        d.advanceWallClock(Duration.ofMinutes(1));
        assertThat(d.metrics.get(TopologyMetrics.CALLS_ADOPTED)).isEqualTo(1);
        assertThat(ctx.get("leftover")).isNotNull();
        d.advanceWallClock(TTL);

        // Then it is gone
        assertThat(ctx.get("leftover")).isNull();
        assertThat(d.metrics.get(TopologyMetrics.CALLS_EXPIRED)).isEqualTo(1);
    }

    @Test
    void shouldForgetTheEndOfACallAfterAnHour() {
        // Given a call that ended
        open(TTL);
        d.events.pipeInput("call-1", ConversationDriver.started("call-1"));
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));
        KeyValueStore<String, CallActivity.Mark> activity = d.driver.getKeyValueStore(ConversationTopology.ACTIVITY_STORE);
        assertThat(activity.get("call-1").ended()).isTrue();

        // When the end has been remembered for its hour
        d.advanceWallClock(CallActivity.ENDED_MEMORY.plusMinutes(1));

        // Then the activity store holds nothing more for it
        assertThat(activity.get("call-1")).isNull();
        assertThat(d.metrics.get(TopologyMetrics.ENDED_CALLS_FORGOTTEN)).isEqualTo(1);
    }

    @Test
    void shouldRejectANegativeTtl() {
        assertThatThrownBy(() -> ConversationConfig.defaults().withStateTtl(Duration.ofMinutes(-1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("stateTtl must be zero (off) or positive");
    }
}
