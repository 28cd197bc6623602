package dev.omnicall.worker;

import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

class ConversationCacheTest {

    @Test
    void shouldEvictLeastRecentlyUsedCallWhenBoundIsExceeded() {
        // Given a 100-byte cache holding calls a and b (a used most recently)
        ConversationCache cache = new ConversationCache(100, WorkerMetrics.NOOP);
        FakeSnapshot a = new FakeSnapshot(40);
        FakeSnapshot b = new FakeSnapshot(40);
        cache.put("a", 0, a);
        cache.put("b", 0, b);
        cache.put("a", 0, cache.take("a"));
        // When c needs 40 more bytes
        FakeSnapshot c = new FakeSnapshot(40);
        cache.put("c", 1, c);
        // Then b, the least recently used, is evicted and freed
        assertThat(cache.contains("b")).isFalse();
        assertThat(b.closed).isTrue();
        assertThat(cache.contains("a")).isTrue();
        assertThat(cache.contains("c")).isTrue();
        assertThat(cache.bytes()).isEqualTo(80);
        assertThat(cache.evictions()).isEqualTo(1);
    }

    @Test
    void shouldCountHitAndMissWhenTaking() {
        ConversationCache cache = new ConversationCache(100, WorkerMetrics.NOOP);
        cache.put("a", 0, new FakeSnapshot(10));

        assertThat(cache.take("a")).isNotNull();
        assertThat(cache.take("a")).as("taking hands ownership over").isNull();

        assertThat(cache.hits()).isEqualTo(1);
        assertThat(cache.misses()).isEqualTo(1);
        assertThat(cache.bytes()).isZero();
    }

    @Test
    void shouldNotKeepSnapshotLargerThanTheBound() {
        ConversationCache cache = new ConversationCache(100, WorkerMetrics.NOOP);
        FakeSnapshot big = new FakeSnapshot(101);
        cache.put("a", 0, big);
        assertThat(cache.contains("a")).isFalse();
        assertThat(big.closed).isTrue();
    }

    @Test
    void shouldDropOnlyCallsOfRevokedPartitions() {
        ConversationCache cache = new ConversationCache(1000, WorkerMetrics.NOOP);
        FakeSnapshot onRevoked = new FakeSnapshot(10);
        cache.put("a", 1, onRevoked);
        cache.put("b", 2, new FakeSnapshot(10));

        cache.dropPartitions(Set.of(1));

        assertThat(cache.contains("a")).isFalse();
        assertThat(onRevoked.closed).isTrue();
        assertThat(cache.contains("b")).isTrue();
        assertThat(cache.bytes()).isEqualTo(10);
    }

    @Test
    void shouldFreeSnapshotWhenCallEnds() {
        ConversationCache cache = new ConversationCache(1000, WorkerMetrics.NOOP);
        FakeSnapshot s = new FakeSnapshot(10);
        cache.put("a", 1, s);
        cache.drop("a");
        assertThat(s.closed).isTrue();
        assertThat(cache.size()).isZero();
    }
}
