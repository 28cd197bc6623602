package dev.omnicall.bridge;

import dev.omnicall.bridge.call.CallEvents;
import dev.omnicall.bridge.call.CallManager;
import dev.omnicall.bridge.call.CallSession;
import dev.omnicall.bridge.kafka.KafkaCallEventSink;
import dev.omnicall.bridge.kafka.OrphanSweep;
import dev.omnicall.bridge.kafka.PartitionAffinity;
import dev.omnicall.bridge.kafka.ReplyTraces;
import dev.omnicall.bridge.kafka.ResponseAudioConsumer;
import dev.omnicall.bridge.media.MediaStats;
import dev.omnicall.bridge.media.RtpPortAllocator;
import dev.omnicall.bridge.sip.SipStartException;
import dev.omnicall.bridge.sip.SipUserAgent;
import dev.omnicall.events.EndReason;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.Topics;
import dev.omnicall.kafka.TurnTrace;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * One telephony bridge: the SIP user agent, the calls with their media, the Kafka producer of call
 * events and caller audio, and the consumer of this bridge's reply audio. Framework-free; the Quarkus
 * app constructs it from configuration, calls {@link #start()} and, at shutdown, {@link #stop()}.
 *
 * <pre>
 *   BridgeServer server = new BridgeServer(config, new BridgeMetrics(meterRegistry));
 *   server.start();          // throws SipStartException when the SIP port cannot be bound: exit the app
 *                            // then, in the background, CallEnded(BRIDGE_LOST) for calls a crashed previous
 *                            // run left live (server.orphanSweep() completes when that is done)
 *   ...
 *   server.hangup(callId);   // the bot ends a call
 *   server.stop();           // BYE to every caller, CallEnded(BRIDGE_SHUTDOWN), flush Kafka
 * </pre>
 */
public final class BridgeServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BridgeServer.class);
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
    /** Bound on each Kafka request of the orphan sweep and on its whole read. */
    private static final Duration SWEEP_TIMEOUT = Duration.ofSeconds(60);

    private final BridgeConfig config;
    private final BridgeMetrics metrics;
    private final ReplyTraces traces;
    private KafkaCallEventSink sink;
    private ResponseAudioConsumer replies;
    private CallManager calls;
    private SipUserAgent sip;
    private PartitionAffinity affinity;
    private OrphanSweep sweep;
    private Thread sweepThread;
    private final CompletableFuture<OrphanSweep.Result> sweepDone = new CompletableFuture<>();
    private boolean started;
    private OverloadGuard overload;

    public BridgeServer(BridgeConfig config, BridgeMetrics metrics) {
        this(config, metrics, TurnTrace.RELAY);
    }

    /** With {@code trace} called where a turn's trace context crosses Kafka (utterance out, first reply RTP). */
    public BridgeServer(BridgeConfig config, BridgeMetrics metrics, TurnTrace trace) {
        this.config = config;
        this.metrics = metrics;
        this.traces = new ReplyTraces(trace);
    }

    /**
     * Connects to Kafka, starts reading this bridge's reply partitions, then opens the SIP port. Before the
     * port opens it marks the ends of its call-events partitions; once open, a background thread ends the
     * calls a previous run of this bridge left live, read from the look-back up to that mark (see
     * {@link OrphanSweep}), so calls this run answers are never among them.
     *
     * @throws SipStartException    the SIP stack could not start: the application should exit
     * @throws IllegalStateException Kafka or the topics are not usable (message says which)
     */
    public synchronized void start() {
        if (started) {
            throw new IllegalStateException("bridge " + config.bridgeId() + " already started");
        }
        try {
            sink = new KafkaCallEventSink(config.kafka(), config.serde(), "bridge-" + config.bridgeId(), metrics, traces);
            int partitions = sink.partitionsOf(Topics.RESPONSE_AUDIO);
            affinity = new PartitionAffinity(config.bridgeIndex(), config.bridgeCount(), partitions);
            if (!config.orphanLookback().isZero()) {
                sweep = new OrphanSweep(config.kafka(), config.serde(), config.bridgeId(), affinity.ownedPartitions(),
                        config.orphanLookback(), SWEEP_TIMEOUT, System::currentTimeMillis, metrics);
                sweep.markEnd(); // before SIP opens: every call of this run is published after the mark
            }
            replies = new ResponseAudioConsumer(config.kafka(), config.serde(), config.bridgeId(),
                    affinity.ownedPartitions(), chunk -> calls.onChunk(chunk), metrics, traces);
            calls = new CallManager(config.bridgeId(), config.media(), new RtpPortAllocator(
                    InetAddress.getByName(config.rtpBindAddress()), config.rtpPortMin(), config.rtpPortMax()),
                    affinity::newCallId, sink, metrics, config.rtpTimeout(), Clock::nowMicros);
            replies.start(START_TIMEOUT);
            sip = new SipUserAgent(config.sip(), calls, metrics);
            if (config.overload().enabled()) {
                overload = new OverloadGuard(config.overload(), OverloadGuard.measuring(config.media().pacer(), config.media().receivers()), metrics);
                overload.start();
                sip.setOverloadGate(overload);
            }
            calls.attach(sip);
            sip.start();
            startOrphanSweep();
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

    private void startOrphanSweep() {
        if (sweep == null) {
            sweepDone.complete(new OrphanSweep.Result(List.of(), 0, 0, List.of()));
            return;
        }
        OrphanSweep s = sweep;
        KafkaCallEventSink out = sink;
        sweepThread = new Thread(() -> endOrphans(s, out), "bridge-" + config.bridgeId() + "-orphan-sweep");
        sweepThread.setDaemon(true);
        sweepThread.start();
    }

    /** On the sweep thread: CallEnded(BRIDGE_LOST) for each call the previous run left live. */
    private void endOrphans(OrphanSweep s, KafkaCallEventSink out) {
        long t0 = System.nanoTime();
        try {
            OrphanSweep.Result r = s.find();
            CallEvents events = new CallEvents(config.bridgeId());
            long nowUs = Clock.nowMicros();
            for (OrphanSweep.Orphan o : r.orphans()) {
                out.callEvent(events.ended(o.callId(), nowUs, EndReason.BRIDGE_LOST, "bridge " + config.bridgeId()
                        + " restarted; the call was live on it when its previous run stopped (last event "
                        + Instant.EPOCH.plusNanos(o.lastEventUs() * 1000) + ")"));
            }
            out.flush();
            metrics.orphanCallsEnded(r.orphans().size());
            if (!r.incompletePartitions().isEmpty()) {
                metrics.kafkaError("orphan_sweep");
                LOG.warn("orphan sweep did not read call-events partitions {} to the end in {}: calls there that the"
                        + " previous run left live stay live", r.incompletePartitions(), SWEEP_TIMEOUT);
            }
            LOG.info("orphan sweep: ended {} calls that bridge {} left live when its previous run stopped (BRIDGE_LOST);"
                            + " read {} call-events records of partitions {} from the last {} in {} ms", r.orphans().size(),
                    config.bridgeId(), r.recordsRead(), affinity.ownedPartitions(), config.orphanLookback(),
                    (System.nanoTime() - t0) / 1_000_000);
            sweepDone.complete(r);
        } catch (WakeupException e) {
            LOG.info("orphan sweep aborted: bridge {} is stopping", config.bridgeId());
            sweepDone.completeExceptionally(new IllegalStateException("orphan sweep aborted by stop()", e));
        } catch (RuntimeException e) {
            metrics.kafkaError("orphan_sweep");
            LOG.error("orphan sweep failed: calls that bridge {} left live when its previous run stopped stay live: {}",
                    config.bridgeId(), e.toString());
            sweepDone.completeExceptionally(e);
        } finally {
            s.close();
        }
    }

    /**
     * Completes when the start-up orphan sweep has published its CallEnded(BRIDGE_LOST) records (with what
     * it found), or exceptionally when it failed or stop() aborted it; at once when the sweep is off.
     */
    public CompletableFuture<OrphanSweep.Result> orphanSweep() {
        return sweepDone;
    }

    /** Ends a call from the bot's side (BYE, CallEnded BOT_HANGUP); false when the call is not live here. */
    /**
     * Speculative turns for the calls answered from now on: {@code ms} of trailing silence starts one (it must be
     * below the end-of-utterance silence), 0 turns them off. For measuring off against on in one process.
     */
    public synchronized void speculativeSilenceMs(int ms) {
        if (calls == null) {
            throw new IllegalStateException("the bridge is not started");
        }
        calls.speculativeSilenceMs(ms);
    }

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
    /** True while the overload guard (if on) refuses new calls. */
    public boolean overloaded() {
        OverloadGuard g = overload;
        return g != null && g.overloaded();
    }

    public synchronized void stop() {
        if (sweepThread != null) {
            sweep.wakeup();
            joinQuietly(sweepThread, 10_000);
            sweepThread = null;
        } else if (sweep != null) {
            sweep.close(); // start failed between markEnd and the sweep thread
        }
        sweep = null;
        if (overload != null) {
            overload.close();
            overload = null;
        }
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

    private static void joinQuietly(Thread t, long ms) {
        try {
            t.join(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
