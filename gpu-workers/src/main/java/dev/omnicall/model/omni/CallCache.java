package dev.omnicall.model.omni;

import dev.omnicall.model.SequenceCache;

/**
 * A call's LLM KV cache kept between turns. The next turn of the call reuses the longest prefix of its
 * prompt that the cache already holds (system prompt and earlier history) and prefills only the rest.
 * The worker owns it: keep it per call, evict (close) by its own policy; {@link #deviceBytes()} says
 * what it costs. Handing it to {@link SpeechGenerator#start} transfers ownership to that turn. With a
 * {@link dev.omnicall.model.KvPool} it is a parked pool slot, which the pool may also take back for a newcomer
 * (LRU): {@link #isOpen()} then turns false and the next turn prefills its whole prompt.
 */
public final class CallCache implements AutoCloseable {
    private SequenceCache cache;

    CallCache(SequenceCache cache) {
        this.cache = cache;
    }

    /** Positions cached (0 once closed, taken, or evicted from the pool). */
    public int length() {
        return cache == null || cache.isClosed() ? 0 : cache.length();
    }

    /** What it costs while kept; constant for its life (a pool slot's bytes even after the pool evicted it). */
    public long deviceBytes() {
        return cache == null ? 0 : cache.deviceBytes();
    }

    public boolean isOpen() {
        return cache != null && !cache.isClosed();
    }

    SequenceCache take() {
        SequenceCache c = cache;
        cache = null;
        return c;
    }

    @Override
    public void close() {
        if (cache != null) {
            cache.close();
            cache = null;
        }
    }
}
