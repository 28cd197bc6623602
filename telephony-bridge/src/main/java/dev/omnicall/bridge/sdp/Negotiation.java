package dev.omnicall.bridge.sdp;

/** The outcome of negotiating an offer; a refusal is a value the SIP layer turns into 488. */
public sealed interface Negotiation {

    record Agreed(NegotiatedMedia media) implements Negotiation {
    }

    record NoCommonMedia(String reason) implements Negotiation {
    }
}
