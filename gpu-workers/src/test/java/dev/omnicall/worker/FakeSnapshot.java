package dev.omnicall.worker;

import dev.omnicall.worker.engine.ConversationSnapshot;

/** A snapshot of a given size that records whether it was freed. */
final class FakeSnapshot implements ConversationSnapshot {
    final long bytes;
    boolean closed;

    FakeSnapshot(long bytes) {
        this.bytes = bytes;
    }

    @Override
    public long bytes() {
        return bytes;
    }

    @Override
    public void close() {
        closed = true;
    }
}
