package dev.omnicall.model.stream;

import dev.omnicall.model.KvCache;

/**
 * A call's LLM KV cache kept between turns. The next turn of the call reuses the longest prefix of its
 * prompt that the cache already holds (system prompt and earlier history) and prefills only the rest.
 * The worker owns it: keep it per call, evict (close) by its own policy; {@link #deviceBytes()} says
 * what it costs. Handing it to {@link SpeechGenerator#start} transfers ownership to that turn.
 */
public final class CallCache implements AutoCloseable {
    private KvCache cache;

    CallCache(KvCache cache) {
        this.cache = cache;
    }

    /** Positions cached. */
    public int length() {
        return cache == null ? 0 : cache.length();
    }

    public long deviceBytes() {
        return cache == null ? 0 : cache.deviceBytes();
    }

    public boolean isOpen() {
        return cache != null && !cache.isClosed();
    }

    KvCache take() {
        KvCache c = cache;
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
