package dev.omnicall.bridge.call;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEvent;

/** Where a call's events and caller audio go (Kafka in production). Must not block the caller's thread. */
public interface CallEventSink {

    void callEvent(CallEvent event);

    void audioSegment(AudioSegment segment);
}
