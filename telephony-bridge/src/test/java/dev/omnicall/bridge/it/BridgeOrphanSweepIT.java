package dev.omnicall.bridge.it;

import dev.omnicall.bridge.BridgeConfig;
import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.bridge.BridgeServer;
import dev.omnicall.bridge.call.CallEvents;
import dev.omnicall.bridge.kafka.OrphanSweep;
import dev.omnicall.bridge.kafka.PartitionAffinity;
import dev.omnicall.bridge.media.MediaConfig;
import dev.omnicall.bridge.sdp.AudioCodec;
import dev.omnicall.bridge.sip.SipConfig;
import dev.omnicall.bridge.testing.FreePorts;
import dev.omnicall.bridge.testing.ProbedBroker;
import dev.omnicall.bridge.vad.VadFactory;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.EndReason;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The start-up orphan sweep against a real KRaft broker: call-events written as a bridge that died without
 * stop() left them, then a bridge with the same id (slot 1 of 2 over 3 partitions) starts.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class BridgeOrphanSweepIT {

    private static final SerdeConfig SERDE = SerdeConfig.embedded();
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final int INDEX = 1;
    private static final int COUNT = 2;

    static ProbedBroker broker;
    static VadFactory vad;
    static KafkaProducer<String, byte[]> producer;
    static Serializer<CallEvent> serializer;
    static PartitionAffinity affinity;

    @BeforeAll
    static void startBroker() {
        broker = ProbedBroker.start(3, SERDE);
        vad = broker.own(VadFactory.energyOnly());
        producer = broker.own(new KafkaProducer<>(broker.settings().producer("dead-bridge"), new StringSerializer(), new ByteArraySerializer()));
        serializer = Topics.CALL_EVENTS.valueSerde(SERDE).serializer();
        affinity = new PartitionAffinity(INDEX, COUNT, 3);
    }

    @AfterAll
    static void stopAll() {
        if (broker != null) {
            broker.close();
        }
    }

    private static BridgeConfig config(String bridgeId) {
        SipConfig sip = SipConfig.defaults("127.0.0.1", FreePorts.udpAndTcp(), "127.0.0.1");
        int rtp = FreePorts.rtpRange(10);
        return new BridgeConfig(bridgeId, INDEX, COUNT, sip, "127.0.0.1", rtp, rtp + 10, MediaConfig.defaults(vad),
                Duration.ofSeconds(30), broker.settings(), SERDE, Duration.ofHours(1));
    }

    /** Starts a bridge as a restarted run would (stopped again if it fails to start); the caller closes it. */
    private static BridgeServer started(BridgeConfig config, BridgeMetrics metrics) {
        BridgeServer bridge = new BridgeServer(config, metrics);
        try {
            bridge.start();
        } catch (RuntimeException e) {
            bridge.stop();
            throw e;
        }
        return bridge;
    }

    /** Publishes as the dead run did, with the record timestamp the producer stamped then. */
    private static void publish(CallEvent e, long timestampMs) {
        producer.send(new ProducerRecord<>(Topics.CALL_EVENTS.name(), null, timestampMs, e.getCallId(),
                serializer.serialize(Topics.CALL_EVENTS.name(), e)));
    }

    private static CallEvent started(CallEvents by, String callId, long atMs) {
        return by.started(callId, atMs * 1000, "sip:caller@127.0.0.1", "sip:omnicall@127.0.0.1", AudioCodec.PCMU, 20);
    }

    private static List<CallEnded> endsOf(String callId) {
        return broker.probe().events(callId).stream().filter(e -> e.getPayload() instanceof CallEnded)
                .map(e -> (CallEnded) e.getPayload()).toList();
    }

    @Test
    void shouldEndEveryCallACrashedRunLeftLiveWithBridgeLostOnceWhenTheBridgeStartsAgain() throws Exception {
        // Given call-events a crashed run of "crash-bridge" left: two live calls (one last heard of by a
        // PlaybackStarted), one hung up, one live call of another bridge, one live call older than the look-back,
        // and a record nobody can read
        CallEvents dead = new CallEvents("crash-bridge");
        long now = System.currentTimeMillis();
        String liveA = affinity.newCallId();
        String liveB = affinity.newCallId();
        String hungUp = affinity.newCallId();
        String others = affinity.newCallId();
        String tooOld = affinity.newCallId();
        publish(started(dead, tooOld, now - Duration.ofHours(3).toMillis()), now - Duration.ofHours(3).toMillis());
        publish(started(dead, liveA, now - 5000), now - 5000);
        publish(started(dead, liveB, now - 4000), now - 4000);
        publish(dead.playbackStarted(liveB, (now - 3000) * 1000, 0, 0, (now - 3100) * 1000, (now - 3050) * 1000), now - 3000);
        publish(started(dead, hungUp, now - 3000), now - 3000);
        publish(dead.ended(hungUp, (now - 2000) * 1000, EndReason.CALLER_HANGUP, null), now - 2000);
        publish(started(new CallEvents("other-bridge"), others, now - 2000), now - 2000);
        producer.send(new ProducerRecord<>(Topics.CALL_EVENTS.name(), liveA, "not avro".getBytes()));
        producer.flush();

        // When a bridge with the same id starts, and its sweep is done
        BridgeMetrics metrics = BridgeMetrics.inMemory();
        try (BridgeServer bridge = started(config("crash-bridge"), metrics)) {
            OrphanSweep.Result result = bridge.orphanSweep().get(30, TimeUnit.SECONDS);

            // Then the two live calls, and only they, get one CallEnded(BRIDGE_LOST) from this bridge
            assertThat(result.orphans()).extracting(OrphanSweep.Orphan::callId).containsExactlyInAnyOrder(liveA, liveB);
            for (String call : List.of(liveA, liveB)) {
                CallEnded ended = broker.probe().awaitEvent(CallEnded.class, e -> e.getCallId().equals(call), WAIT);
                assertThat(ended.getReason()).isEqualTo(EndReason.BRIDGE_LOST);
                assertThat(ended.getDetail()).contains("crash-bridge restarted").contains("live on it");
            }
            assertThat(broker.probe().events(liveA)).filteredOn(e -> e.getPayload() instanceof CallEnded)
                    .allMatch(e -> e.getBridgeId().equals("crash-bridge"));
            assertThat(endsOf(hungUp)).extracting(CallEnded::getReason).containsExactly(EndReason.CALLER_HANGUP);
            assertThat(endsOf(others)).isEmpty();
            assertThat(endsOf(tooOld)).as("older than the 1 h look-back").isEmpty();
            // And the count, and the unreadable record skipped and counted
            assertThat(metrics.count("omnicall_bridge_orphan_calls_ended_total")).isEqualTo(2);
            assertThat(result.unreadable()).isEqualTo(1);
            assertThat(metrics.count("omnicall_bridge_kafka_errors_total", "stage", "orphan_sweep_unreadable")).isEqualTo(1);
            assertThat(result.incompletePartitions()).isEmpty();
        }

        // When the bridge restarts once more
        BridgeMetrics again = BridgeMetrics.inMemory();
        try (BridgeServer second = started(config("crash-bridge"), again)) {
            OrphanSweep.Result result = second.orphanSweep().get(30, TimeUnit.SECONDS);

            // Then it finds the calls already ended and ends nothing twice
            assertThat(result.orphans()).isEmpty();
            assertThat(again.count("omnicall_bridge_orphan_calls_ended_total")).isZero();
            Thread.sleep(500);
            assertThat(endsOf(liveA)).hasSize(1);
            assertThat(endsOf(liveB)).hasSize(1);
        }
    }

    @Test
    void shouldNotReportACallPublishedAfterTheMarkWhenTheNewRunAnsweredIt() throws Exception {
        // Given a live call the dead run of "mark-bridge" left, and the sweep's mark taken
        CallEvents bridge = new CallEvents("mark-bridge");
        String orphan = affinity.newCallId();
        String answeredByNewRun = affinity.newCallId();
        publish(started(bridge, orphan, System.currentTimeMillis()), System.currentTimeMillis());
        producer.flush();
        try (OrphanSweep sweep = new OrphanSweep(broker.settings(), SERDE, "mark-bridge", affinity.ownedPartitions(),
                Duration.ofHours(1), Duration.ofSeconds(20), System::currentTimeMillis, BridgeMetrics.inMemory())) {
            sweep.markEnd();

            // When the new run answers a call before the sweep reads (same bridge id, same partitions)
            publish(started(bridge, answeredByNewRun, System.currentTimeMillis()), System.currentTimeMillis());
            producer.flush();
            OrphanSweep.Result result = sweep.find();

            // Then only the dead run's call is an orphan
            assertThat(result.orphans()).extracting(OrphanSweep.Orphan::callId).containsExactly(orphan);
        }
    }

    @Test
    void shouldEndNothingWhenTheLookBackIsZero() throws Exception {
        // Given a live call a crashed run of "off-bridge" left
        String orphan = affinity.newCallId();
        publish(started(new CallEvents("off-bridge"), orphan, System.currentTimeMillis()), System.currentTimeMillis());
        producer.flush();

        // When the bridge starts with the sweep off
        BridgeMetrics metrics = BridgeMetrics.inMemory();
        try (BridgeServer bridge = started(config("off-bridge").withOrphanLookback(Duration.ZERO), metrics)) {
            OrphanSweep.Result result = bridge.orphanSweep().get(5, TimeUnit.SECONDS);

            // Then the call is left as it was
            assertThat(result.orphans()).isEmpty();
            Thread.sleep(500);
            assertThat(endsOf(orphan)).isEmpty();
        }
    }
}
