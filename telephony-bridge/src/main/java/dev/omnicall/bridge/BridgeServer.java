package dev.omnicall.bridge;

import dev.omnicall.bridge.call.CallManager;
import dev.omnicall.bridge.call.CallSession;
import dev.omnicall.bridge.kafka.KafkaCallEventSink;
import dev.omnicall.bridge.kafka.PartitionAffinity;
import dev.omnicall.bridge.kafka.ResponseAudioConsumer;
import dev.omnicall.bridge.media.MediaStats;
import dev.omnicall.bridge.media.RtpPortAllocator;
import dev.omnicall.bridge.sip.SipStartException;
import dev.omnicall.bridge.sip.SipUserAgent;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.Topics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One telephony bridge: the SIP user agent, the calls with their media, the Kafka producer of call
 * events and caller audio, and the consumer of this bridge's reply audio. Framework-free; the Quarkus
 * app constructs it from configuration, calls {@link #start()} and, at shutdown, {@link #stop()}.
 *
 * <pre>
 *   BridgeServer server = new BridgeServer(config, new BridgeMetrics(meterRegistry));
 *   server.start();          // throws SipStartException when the SIP port cannot be bound: exit the app
 *   ...
 *   server.hangup(callId);   // the bot ends a call
 *   server.stop();           // BYE to every caller, CallEnded(BRIDGE_SHUTDOWN), flush Kafka
 * </pre>
 */
public final class BridgeServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BridgeServer.class);
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    private final BridgeConfig config;
    private final BridgeMetrics metrics;
    private KafkaCallEventSink sink;
    private ResponseAudioConsumer replies;
    private CallManager calls;
    private SipUserAgent sip;
    private PartitionAffinity affinity;
    private boolean started;

    public BridgeServer(BridgeConfig config, BridgeMetrics metrics) {
        this.config = config;
        this.metrics = metrics;
    }

    /**
     * Connects to Kafka, starts reading this bridge's reply partitions, then opens the SIP port.
     *
     * @throws SipStartException    the SIP stack could not start: the application should exit
     * @throws IllegalStateException Kafka or the topics are not usable (message says which)
     */
    public synchronized void start() {
        if (started) {
            throw new IllegalStateException("bridge " + config.bridgeId() + " already started");
        }
        try {
            sink = new KafkaCallEventSink(config.kafka(), config.serde(), "bridge-" + config.bridgeId(), metrics);
            int partitions = sink.partitionsOf(Topics.RESPONSE_AUDIO);
            affinity = new PartitionAffinity(config.bridgeIndex(), config.bridgeCount(), partitions);
            replies = new ResponseAudioConsumer(config.kafka(), config.serde(), config.bridgeId(),
                    affinity.ownedPartitions(), chunk -> calls.onChunk(chunk), metrics);
            calls = new CallManager(config.bridgeId(), config.media(), new RtpPortAllocator(
                    InetAddress.getByName(config.rtpBindAddress()), config.rtpPortMin(), config.rtpPortMax()),
                    affinity::newCallId, sink, metrics, config.rtpTimeout(), Clock::nowMicros);
            replies.start(START_TIMEOUT);
            sip = new SipUserAgent(config.sip(), calls, metrics);
            calls.attach(sip);
            sip.start();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stop();
            throw new IllegalStateException("interrupted while starting bridge " + config.bridgeId(), e);
        } catch (UnknownHostException e) {
            stop();
            throw new IllegalArgumentException("RTP bind address " + config.rtpBindAddress() + " is not an address", e);
        } catch (RuntimeException e) {
            stop();
            throw e;
        }
        started = true;
        LOG.info("bridge {} ({} of {}) up: SIP {}:{}, RTP {}-{}, response-audio partitions {} of {}", config.bridgeId(),
                config.bridgeIndex(), config.bridgeCount(), config.sip().bindAddress(), config.sip().port(),
                config.rtpPortMin(), config.rtpPortMax(), affinity.ownedPartitions(), affinity.partitions());
    }

    /** Ends a call from the bot's side (BYE, CallEnded BOT_HANGUP); false when the call is not live here. */
    public boolean hangup(String callId) {
        CallManager c = calls;
        return c != null && c.hangup(callId);
    }

    /** IDs of the calls this bridge holds now. */
    public List<String> liveCalls() {
        CallManager c = calls;
        return c == null ? List.of() : c.callIds();
    }

    /**
     * A snapshot of the media counters of each call this bridge holds now (call ID → stats): RFC 3550
     * interarrival jitter, loss, send lateness. Empty before start and after stop.
     */
    public Map<String, MediaStats> liveCallStats() {
        CallManager c = calls;
        if (c == null) {
            return Map.of();
        }
        Map<String, MediaStats> out = new LinkedHashMap<>();
        for (String callId : c.callIds()) {
            CallSession session = c.session(callId);
            if (session != null) { // it may have ended since callIds()
                out.put(callId, session.media().stats());
            }
        }
        return out;
    }

    public BridgeMetrics metrics() {
        return metrics;
    }

    public BridgeConfig config() {
        return config;
    }

    /** The response-audio partitions this bridge reads (after start). */
    public List<Integer> ownedPartitions() {
        return affinity == null ? List.of() : affinity.ownedPartitions();
    }

    /**
     * BYE to every live caller with CallEnded(BRIDGE_SHUTDOWN), then closes SIP, the reply consumer and
     * the producer (flushing what is queued). Safe to call twice and after a failed start.
     */
    public synchronized void stop() {
        if (calls != null) {
            calls.close();
        }
        if (sip != null) {
            // give the BYEs a moment on the wire before the stack goes away
            if (started) {
                sleepQuietly(200);
            }
            sip.close();
            sip = null;
        }
        if (replies != null) {
            replies.close();
            replies = null;
        }
        if (sink != null) {
            sink.flush();
            sink.close();
            sink = null;
        }
        calls = null;
        started = false;
    }

    @Override
    public void close() {
        stop();
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
