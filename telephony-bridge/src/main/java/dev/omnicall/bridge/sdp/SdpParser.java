package dev.omnicall.bridge.sdp;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses SDP offers (RFC 4566) into {@link SessionDescription}s. Only what an audio answerer needs is
 * kept; other lines are checked for the {@code <type>=<value>} shape and skipped.
 *
 * <pre>
 *   session-description = v=0 CRLF
 *                         o=&lt;username&gt; &lt;sess-id&gt; &lt;sess-version&gt; IN IP4|IP6 &lt;address&gt; CRLF
 *                         s=&lt;session name&gt; CRLF
 *                         [c=IN IP4|IP6 &lt;address&gt;] ...
 *                         (t= r= z= k= a=)*
 *                         ( m=&lt;media&gt; &lt;port&gt;[/&lt;count&gt;] &lt;proto&gt; &lt;fmt&gt; ... CRLF
 *                           [i=] [c=] [b=]* [k=] [a=]* )*
 * </pre>
 *
 * Bad input never throws: every rule it breaks comes back as {@link SdpParseResult.Invalid} with the
 * line number. Lines may end in CRLF or a bare LF (RFC 4566 §5 asks parsers to accept LF).
 */
public final class SdpParser {

    /** Bodies above this size are refused before parsing; a real audio offer is well under 2 KB. */
    public static final int MAX_BODY_BYTES = 16 * 1024;
    /** More media sections than this are refused; each costs a line in the answer. */
    public static final int MAX_MEDIA_SECTIONS = 16;
    /** More payload formats than this on one m= line are refused. */
    public static final int MAX_FORMATS = 64;

    private static final int MAX_PAYLOAD_TYPE = 127;

    private SdpParser() {
    }

    public static SdpParseResult parse(byte[] body) {
        if (body == null) {
            return new SdpParseResult.Invalid(0, "no SDP body");
        }
        if (body.length > MAX_BODY_BYTES) {
            return new SdpParseResult.Invalid(0, "SDP body is " + body.length + " bytes, limit " + MAX_BODY_BYTES);
        }
        // RFC 4566 §5: the character set is UTF-8 for text fields; everything we read is ASCII.
        return parse(new String(body, StandardCharsets.UTF_8));
    }

    public static SdpParseResult parse(String body) {
        if (body == null || body.isEmpty()) {
            return new SdpParseResult.Invalid(0, "no SDP body");
        }
        if (body.length() > MAX_BODY_BYTES) {
            return new SdpParseResult.Invalid(0, "SDP body is " + body.length() + " chars, limit " + MAX_BODY_BYTES);
        }
        return new Run(body).parse();
    }

    /** Parsing state of one body; kept out of the static API so the parser itself stays stateless. */
    private static final class Run {
        private final String[] lines;
        private int lineNo;

        private Integer version;
        private Origin origin;
        private String sessionName;
        private Connection sessionConnection;
        private Direction sessionDirection;
        private final List<MediaDescription> media = new ArrayList<>();

        // the media section being read
        private String mMedia;
        private int mPort;
        private String mProto;
        private List<String> mFormats;
        private Connection mConnection;
        private Map<Integer, RtpMap> mRtpMaps;
        private Map<Integer, String> mFmtps;
        private Integer mPtime;
        private Direction mDirection;

        Run(String body) {
            this.lines = body.split("\n", -1);
        }

        SdpParseResult parse() {
            for (int i = 0; i < lines.length; i++) {
                lineNo = i + 1;
                String line = lines[i];
                if (line.endsWith("\r")) {
                    line = line.substring(0, line.length() - 1);
                }
                if (line.isEmpty()) {
                    // a trailing line break leaves one empty element; blank lines elsewhere are tolerated too
                    continue;
                }
                if (line.length() < 2 || line.charAt(1) != '=' || line.charAt(0) < 'a' || line.charAt(0) > 'z') {
                    return invalid("expected <type>=<value>, got '" + abbreviate(line) + "'");
                }
                if (version == null && line.charAt(0) != 'v') {
                    return invalid("the first line must be v=, got '" + abbreviate(line) + "'");
                }
                String value = line.substring(2);
                String error = switch (line.charAt(0)) {
                    case 'v' -> version(value);
                    case 'o' -> origin(value);
                    case 's' -> sessionName(value);
                    case 'c' -> connection(value);
                    case 'm' -> media(value);
                    case 'a' -> attribute(value);
                    default -> null; // i= u= e= p= b= t= r= z= k=: not needed for an audio answer
                };
                if (error != null) {
                    return invalid(error);
                }
            }
            lineNo = 0;
            if (version == null) {
                return invalid("no v= line");
            }
            if (origin == null) {
                return invalid("no o= line");
            }
            if (sessionName == null) {
                return invalid("no s= line");
            }
            String error = closeMedia();
            if (error != null) {
                return invalid(error);
            }
            return new SdpParseResult.Parsed(new SessionDescription(version, origin, sessionName,
                    sessionConnection, sessionDirection, media));
        }

        private String version(String value) {
            if (version != null) {
                return "second v= line";
            }
            if (!"0".equals(value.trim())) {
                return "unsupported SDP version '" + abbreviate(value) + "', only v=0 exists";
            }
            version = 0;
            return null;
        }

        private String origin(String value) {
            if (origin != null || mMedia != null) {
                return "o= must appear once, at session level";
            }
            String[] f = value.trim().split(" +");
            if (f.length != 6) {
                return "o= needs 6 fields, got " + f.length;
            }
            origin = new Origin(f[0], f[1], f[2], f[3], f[4], f[5]);
            return null;
        }

        private String sessionName(String value) {
            if (sessionName != null || mMedia != null) {
                return "s= must appear once, at session level";
            }
            sessionName = value;
            return null;
        }

        private String connection(String value) {
            String[] f = value.trim().split(" +");
            if (f.length != 3) {
                return "c= needs 3 fields <nettype> <addrtype> <address>, got " + f.length;
            }
            if (!"IN".equals(f[0])) {
                return "c= network type '" + abbreviate(f[0]) + "' is not IN";
            }
            if (!"IP4".equals(f[1]) && !"IP6".equals(f[1])) {
                return "c= address type '" + abbreviate(f[1]) + "' is not IP4 or IP6";
            }
            // a multicast address may carry /ttl[/count]; we keep the address part only
            String address = f[2];
            int slash = address.indexOf('/');
            if (slash >= 0) {
                address = address.substring(0, slash);
            }
            if (address.isEmpty()) {
                return "c= address is empty";
            }
            Connection c = new Connection(f[0], f[1], address);
            if (mMedia != null) {
                mConnection = c;
            } else {
                sessionConnection = c;
            }
            return null;
        }

        private String media(String value) {
            String error = closeMedia();
            if (error != null) {
                return error;
            }
            if (media.size() >= MAX_MEDIA_SECTIONS) {
                return "more than " + MAX_MEDIA_SECTIONS + " m= sections";
            }
            String[] f = value.trim().split(" +");
            if (f.length < 4) {
                return "m= needs <media> <port> <proto> <fmt>..., got " + f.length + " fields";
            }
            if (f.length - 3 > MAX_FORMATS) {
                return "m= lists " + (f.length - 3) + " formats, limit " + MAX_FORMATS;
            }
            for (String field : f) {
                // RFC 4566 §9: media, proto and fmt are tokens of visible ASCII; the answer echoes them back
                if (!isToken(field)) {
                    return "m= field '" + abbreviate(field) + "' is not a token of visible ASCII characters";
                }
            }
            String port = f[1];
            int slash = port.indexOf('/');
            if (slash >= 0) {
                port = port.substring(0, slash);
            }
            Integer p = parseInt(port, 0, 65535);
            if (p == null) {
                return "m= port '" + abbreviate(f[1]) + "' is not a number in 0..65535";
            }
            mMedia = f[0];
            mPort = p;
            mProto = f[2];
            mFormats = new ArrayList<>(f.length - 3);
            for (int i = 3; i < f.length; i++) {
                if (mProto.startsWith("RTP/") && parseInt(f[i], 0, MAX_PAYLOAD_TYPE) == null) {
                    return "m= RTP format '" + abbreviate(f[i]) + "' is not a payload type in 0..127";
                }
                mFormats.add(f[i]);
            }
            mConnection = null;
            mRtpMaps = new HashMap<>();
            mFmtps = new HashMap<>();
            mPtime = null;
            mDirection = null;
            return null;
        }

        private String closeMedia() {
            if (mMedia == null) {
                return null;
            }
            media.add(new MediaDescription(mMedia, mPort, mProto, mFormats, mConnection, mRtpMaps, mFmtps, mPtime,
                    mDirection));
            mMedia = null;
            return null;
        }

        private String attribute(String value) {
            int colon = value.indexOf(':');
            String name = colon < 0 ? value : value.substring(0, colon);
            String arg = colon < 0 ? "" : value.substring(colon + 1);
            Direction d = Direction.fromAttribute(name);
            if (d != null) {
                if (colon >= 0) {
                    return "a=" + name + " takes no value";
                }
                if (mMedia != null) {
                    mDirection = d;
                } else {
                    sessionDirection = d;
                }
                return null;
            }
            if (mMedia == null) {
                return null; // session-level rtpmap/fmtp/ptime are meaningless; other attributes are not ours
            }
            return switch (name) {
                case "rtpmap" -> rtpMap(arg);
                case "fmtp" -> fmtp(arg);
                case "ptime" -> ptime(arg);
                default -> null;
            };
        }

        // a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]
        private String rtpMap(String arg) {
            int space = arg.indexOf(' ');
            if (space < 0) {
                return "a=rtpmap needs '<pt> <encoding>/<clock rate>'";
            }
            Integer pt = parseInt(arg.substring(0, space), 0, MAX_PAYLOAD_TYPE);
            if (pt == null) {
                return "a=rtpmap payload type '" + abbreviate(arg.substring(0, space)) + "' is not in 0..127";
            }
            String[] enc = arg.substring(space + 1).trim().split("/");
            if (enc.length < 2 || enc.length > 3 || enc[0].isEmpty()) {
                return "a=rtpmap:" + pt + " needs <encoding>/<clock rate>[/<channels>]";
            }
            Integer clock = parseInt(enc[1], 1, 10_000_000);
            if (clock == null) {
                return "a=rtpmap:" + pt + " clock rate '" + abbreviate(enc[1]) + "' is not a positive number";
            }
            Integer channels = enc.length == 3 ? parseInt(enc[2], 1, 255) : Integer.valueOf(1);
            if (channels == null) {
                return "a=rtpmap:" + pt + " channel count '" + abbreviate(enc[2]) + "' is not in 1..255";
            }
            mRtpMaps.put(pt, new RtpMap(pt, enc[0], clock, channels));
            return null;
        }

        // a=fmtp:<format> <format specific parameters>
        private String fmtp(String arg) {
            int space = arg.indexOf(' ');
            String fmt = space < 0 ? arg : arg.substring(0, space);
            Integer pt = parseInt(fmt, 0, MAX_PAYLOAD_TYPE);
            if (pt == null) {
                return "a=fmtp format '" + abbreviate(fmt) + "' is not a payload type in 0..127";
            }
            mFmtps.put(pt, space < 0 ? "" : arg.substring(space + 1).trim());
            return null;
        }

        // a=ptime:<packet time in ms>; some agents write a decimal ("20.0")
        private String ptime(String arg) {
            String s = arg.trim();
            int dot = s.indexOf('.');
            if (dot >= 0 && s.substring(dot + 1).chars().allMatch(ch -> ch == '0')) {
                s = s.substring(0, dot);
            }
            Integer ms = parseInt(s, 1, 1000);
            if (ms == null) {
                return "a=ptime '" + abbreviate(arg) + "' is not a whole number of ms in 1..1000";
            }
            mPtime = ms;
            return null;
        }

        private SdpParseResult invalid(String message) {
            return new SdpParseResult.Invalid(lineNo, message);
        }
    }

    /** Decimal digits only (no sign, no spaces), within [min, max]; null otherwise. */
    static Integer parseInt(String s, int min, int max) {
        if (s.isEmpty() || s.length() > 9) {
            return null;
        }
        int v = 0;
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch < '0' || ch > '9') {
                return null;
            }
            v = v * 10 + (ch - '0');
        }
        return v < min || v > max ? null : v;
    }

    private static boolean isToken(String s) {
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch < 0x21 || ch > 0x7e) {
                return false;
            }
        }
        return !s.isEmpty();
    }

    static String abbreviate(String s) {
        String printable = s.replaceAll("[^\\x20-\\x7e]", "?");
        return printable.length() <= 40 ? printable : printable.substring(0, 40) + "...";
    }
}
