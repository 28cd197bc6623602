package dev.omnicall.reliability.proc;

import java.util.HashMap;
import java.util.Map;

/** {@code key=value} arguments of the reliability child mains. */
final class Args {

    private Args() {
    }

    static Map<String, String> parse(String[] args) {
        Map<String, String> out = new HashMap<>();
        for (String a : args) {
            int eq = a.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("argument '" + a + "' is not key=value");
            }
            out.put(a.substring(0, eq), a.substring(eq + 1));
        }
        return out;
    }

    static String required(Map<String, String> args, String key) {
        String v = args.get(key);
        if (v == null || v.isBlank()) {
            throw new IllegalArgumentException(key + " is required");
        }
        return v;
    }
}
