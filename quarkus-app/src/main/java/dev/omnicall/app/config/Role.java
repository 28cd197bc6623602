package dev.omnicall.app.config;

import java.util.Locale;

/** What one OmniCall process does. A process runs any subset; the zero-setup run runs all three. */
public enum Role {
    /** SIP user agent and RTP media: calls in, caller audio and call events out, reply audio played. */
    BRIDGE,
    /** Model inference: turn requests in, text and audio chunks out. One per GPU. */
    WORKER,
    /** Kafka Streams topologies: utterances, conversation context, transcripts, turn metrics. */
    STREAMS;

    /** The lower-case name used in config, logs and health check names. */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }
}
