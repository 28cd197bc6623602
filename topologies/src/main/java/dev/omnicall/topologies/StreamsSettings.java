package dev.omnicall.topologies;

import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.Topic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;

import java.nio.file.Path;
import java.util.Properties;

/**
 * Kafka Streams settings of the streams role.
 *
 * @param applicationId    the Streams application id (consumer group, state and changelog prefix)
 * @param stateDir         local state directory (RocksDB); persistent across restarts where possible
 * @param commitIntervalMs how often output is committed; under exactly-once read_committed consumers see output
 *                         at the commit, so it is small (a TurnRequest asks for its commit at once)
 * @param exactlyOnce      exactly-once v2 (transactions) instead of at-least-once
 * @param threads          stream threads
 */
public record StreamsSettings(String applicationId, Path stateDir, long commitIntervalMs, boolean exactlyOnce, int threads) {

    /**
     * How long an idle stream thread waits in poll: UtteranceAssembler's gap-timeout punctuator's period (a quarter of
     * the 1 s gap timeout), so the punctuator still runs on time, and 4 loops a second instead of Kafka Streams'
     * default 10 (issue 16).
     */
    public static final long POLL_MS = 250;

    public StreamsSettings {
        if (commitIntervalMs < 1) {
            throw new IllegalArgumentException("commitIntervalMs must be >= 1, got " + commitIntervalMs);
        }
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
    }

    public static StreamsSettings defaults(Path stateDir) {
        return new StreamsSettings("omnicall-streams", stateDir, 20, true, 1);
    }

    public Properties toProperties(KafkaSettings kafka) {
        Properties p = new Properties();
        p.putAll(kafka.common());
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, exactlyOnce ? StreamsConfig.EXACTLY_ONCE_V2 : StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitIntervalMs);
        // An idle stream thread blocks in poll for poll.ms before it looks at the commit timer and the wall-clock
        // punctuators again. A TurnRequest does not wait for that: UtteranceAssembler asks for the commit as it
        // sends one. What else waits (transcripts, turn metrics, dead letters, the gap timeout's punctuator) may
        // wait up to this long; 10 ms kept an idle app's stream thread waking 100 times a second (issue 16).
        p.put(StreamsConfig.POLL_MS_CONFIG, POLL_MS);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
        // Sources read bytes and decode inside the topology (dead letters go out in the same transaction);
        // this handler only guards against anything that still fails before the first processor.
        p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
        // No record cache: a TurnRequest must leave as soon as its utterance is complete.
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        // A restarted instance must not wait 45 s for its previous member to time out.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1500);
        // The broker answers a fetch as soon as records (for read_committed: a commit) are there, so a long wait
        // only bounds an idle fetch (KafkaSettings.IDLE_FETCH_WAIT_MS); kafka.fetch.max.wait.ms overrides it
        if (!p.containsKey(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG)) {
            p.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), KafkaSettings.IDLE_FETCH_WAIT_MS);
        }
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 0);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.MAX_REQUEST_SIZE_CONFIG), Topic.LARGE_RECORD_BYTES);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, -1);
        return p;
    }
}
