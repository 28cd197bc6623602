package dev.omnicall.reliability.proc;

import java.util.Arrays;
import java.util.List;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.time.Instant;

/**
 * Runs another main class with logging sent to stdout: {@code LoggedMain <main class> <args...>}.
 *
 * <p>The test class path carries Quarkus' log manager, whose start-up configurator holds every record in a
 * delayed handler until Quarkus itself boots; a plain main would log nothing. This replaces the root
 * handlers with one that writes each record to stdout at once: OmniCall at DEBUG, Kafka's configuration
 * dumps at INFO, everything else at WARN. The secret test reads exactly this output.
 */
public final class LoggedMain {

    /** Strong references: a logger's level is lost if the logger is collected. */
    private static final List<Logger> CONFIGURED = new java.util.ArrayList<>();

    private LoggedMain() {
    }

    public static void main(String[] args) throws Throwable {
        if (args.length < 1) {
            throw new IllegalArgumentException("usage: LoggedMain <main class> [args...]");
        }
        Logger root = Logger.getLogger("");
        for (Handler h : root.getHandlers()) {
            root.removeHandler(h);
        }
        root.addHandler(new StdoutHandler());
        root.setLevel(Level.WARNING);
        level("dev.omnicall", Level.FINE);
        for (String configDump : List.of("org.apache.kafka.clients.producer.ProducerConfig",
                "org.apache.kafka.clients.consumer.ConsumerConfig", "org.apache.kafka.clients.admin.AdminClientConfig",
                "org.apache.kafka.streams.StreamsConfig", "org.apache.kafka.common.config.AbstractConfig")) {
            level(configDump, Level.INFO);
        }
        try {
            Class.forName(args[0]).getMethod("main", String[].class)
                    .invoke(null, (Object) Arrays.copyOfRange(args, 1, args.length));
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
        }
    }

    private static void level(String name, Level level) {
        Logger l = Logger.getLogger(name);
        l.setLevel(level);
        CONFIGURED.add(l);
    }

    private static final class StdoutHandler extends Handler {
        private final Formatter format = new Formatter() {
            @Override
            public String format(LogRecord r) {
                StringBuilder sb = new StringBuilder().append(Instant.ofEpochMilli(r.getMillis())).append(' ')
                        .append(name(r.getLevel())).append(" [").append(r.getLoggerName()).append("] ")
                        .append(formatMessage(r));
                if (r.getThrown() != null) {
                    java.io.StringWriter sw = new java.io.StringWriter();
                    r.getThrown().printStackTrace(new java.io.PrintWriter(sw));
                    sb.append('\n').append(sw);
                }
                return sb.append('\n').toString();
            }
        };

        StdoutHandler() {
            setLevel(Level.ALL);
        }

        private static String name(Level l) {
            int v = l.intValue();
            return v >= 1000 ? "ERROR" : v >= 900 ? "WARN" : v >= 800 ? "INFO" : "DEBUG";
        }

        @Override
        public synchronized void publish(LogRecord record) {
            if (isLoggable(record)) {
                System.out.print(format.format(record));
                System.out.flush();
            }
        }

        @Override
        public void flush() {
            System.out.flush();
        }

        @Override
        public void close() {
            flush();
        }
    }
}
