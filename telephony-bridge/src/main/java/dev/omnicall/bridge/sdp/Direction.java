package dev.omnicall.bridge.sdp;

/** The media direction attribute of RFC 4566 §6 / RFC 3264 §5.1, from the point of view of the SDP's author. */
public enum Direction {
    SENDRECV("sendrecv"),
    SENDONLY("sendonly"),
    RECVONLY("recvonly"),
    INACTIVE("inactive");

    private final String attribute;

    Direction(String attribute) {
        this.attribute = attribute;
    }

    public String attribute() {
        return attribute;
    }

    /** RFC 3264 §6.1: the answer's direction mirrors the offer's (sendonly ↔ recvonly). */
    public Direction answerTo() {
        return switch (this) {
            case SENDRECV -> SENDRECV;
            case SENDONLY -> RECVONLY;
            case RECVONLY -> SENDONLY;
            case INACTIVE -> INACTIVE;
        };
    }

    /** The offerer will not send us audio: the call is on hold from their side. */
    public boolean isHold() {
        return this == SENDONLY || this == INACTIVE;
    }

    static Direction fromAttribute(String name) {
        for (Direction d : values()) {
            if (d.attribute.equals(name)) {
                return d;
            }
        }
        return null;
    }
}
