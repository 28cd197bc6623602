package dev.omnicall.bridge.sdp;

import java.util.List;

/**
 * A parsed session description (RFC 4566): the session-level fields and the media sections in order.
 *
 * @param connection session-level {@code c=}, or null
 * @param direction  session-level direction attribute, or null (the default is sendrecv)
 */
public record SessionDescription(int version, Origin origin, String sessionName, Connection connection,
                                 Direction direction, List<MediaDescription> media) {

    public SessionDescription {
        media = List.copyOf(media);
    }

    /** The direction that applies to a media section: media level, else session level, else sendrecv. */
    public Direction directionOf(MediaDescription m) {
        if (m.direction() != null) {
            return m.direction();
        }
        return direction != null ? direction : Direction.SENDRECV;
    }

    /** The connection that applies to a media section: media level, else session level (RFC 4566 §5.7). */
    public Connection connectionOf(MediaDescription m) {
        return m.connection() != null ? m.connection() : connection;
    }
}
