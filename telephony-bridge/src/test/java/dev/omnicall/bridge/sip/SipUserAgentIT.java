package dev.omnicall.bridge.sip;

import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.bridge.OverloadConfig;
import dev.omnicall.bridge.OverloadGuard;
import dev.omnicall.bridge.media.RtpPacer;
import dev.omnicall.bridge.sdp.Direction;
import dev.omnicall.bridge.sdp.NegotiatedMedia;
import dev.omnicall.bridge.testing.FreePorts;
import dev.omnicall.bridge.testing.Sipp;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The SIP user agent against the real sipp caller, signalling only (the listener stands in for the call
 * layer and opens no media). Each test starts its own user agent on a free port.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SipUserAgentIT {

    @TempDir
    Path tmp;

    private final BridgeMetrics metrics = BridgeMetrics.inMemory();
    private final RecordingListener listener = new RecordingListener();
    private SipUserAgent agent;

    @AfterEach
    void stop() {
        if (agent != null) {
            agent.close();
        }
        listener.timer.shutdownNow();
    }

    private SipUserAgent start(SipConfig config) {
        agent = new SipUserAgent(config, listener, metrics);
        listener.agent = agent;
        agent.start();
        return agent;
    }

    private static SipConfig config() {
        return SipConfig.defaults("127.0.0.1", FreePorts.udpAndTcp(), "127.0.0.1");
    }

    private Sipp.Result sipp(String scenario, Map<String, String> placeholders, String... args) throws Exception {
        return new Sipp(tmp, scenario, placeholders).args(args).run(agent.port(), 45);
    }

    @Test
    void shouldAnswerWithSdpAndEndCallWhenCallerSendsBye() throws Exception {
        // Given a user agent
        start(config());

        // When sipp calls, waits 300 ms and hangs up
        Sipp.Running run = new Sipp(tmp, "uac_call_bye.xml", Map.of()).args("-d", "300").start(agent.port());
        Sipp.Result result = run.await(45);

        // Then the call was answered with an SDP answer for PCMU + telephone-event, and ended by BYE
        assertThat(result.passed()).as(result.log()).isTrue();
        assertThat(run.messages()).contains("SIP/2.0 180 Ringing").contains("m=audio 40000 RTP/AVP 0 101")
                .contains("X-OmniCall-Call-Id: call-1");
        assertThat(listener.events).containsExactly("invite call-1 PCMU", "answered call-1", "ended call-1 BYE");
        assertThat(agent.liveCalls()).isZero();
    }

    @Test
    void shouldAnswerCallOverTcp() throws Exception {
        start(config());

        Sipp.Result result = sipp("uac_call_bye.xml", Map.of(), "-t", "t1", "-d", "200");

        assertThat(result.passed()).as(result.log()).isTrue();
        assertThat(listener.events).containsExactly("invite call-1 PCMU", "answered call-1", "ended call-1 BYE");
    }

    @Test
    void shouldAnswer487WhenCallerCancelsWhileRinging_rfc3261_9_2() throws Exception {
        // Given a user agent that rings for 3 s before answering
        start(config().withRingDelay(Duration.ofSeconds(3)));

        // When the caller cancels after 180 Ringing
        Sipp.Result result = sipp("uac_cancel.xml", Map.of());

        // Then sipp got 200 to the CANCEL and 487 to the INVITE, and the call ended as cancelled unanswered
        assertThat(result.passed()).as(result.log()).isTrue();
        assertThat(listener.events).containsExactly("invite call-1 PCMU", "ended call-1 CANCEL");
        assertThat(agent.liveCalls()).isZero();
    }

    @Test
    void shouldRefuseCallOverMaxCallsWith503() throws Exception {
        // Given a user agent that takes one call, with one call up
        start(config().withMaxCalls(1));
        Sipp.Running first = new Sipp(tmp, "uac_call_bye.xml", Map.of()).args("-d", "4000").start(agent.port());
        awaitEvent("answered call-1", first);

        // When a second caller calls
        Sipp.Result second = sipp("uac_refused.xml", Map.of("STATUS", "503", "FORMATS", "0"));

        // Then it gets 503 and the first call goes on undisturbed
        assertThat(second.passed()).as(second.log()).isTrue();
        assertThat(metrics.count("omnicall_bridge_sip_rejected_total", "reason", "max_calls")).isEqualTo(1);
        Sipp.Result firstResult = first.await(45);
        assertThat(firstResult.passed()).as(firstResult.log()).isTrue();
    }

    @Test
    void shouldRefuseNewCallWith503AndRetryAfterWhileOverloadedThenAnswerAfterRecovery() throws Exception {
        // Given a user agent behind an overload guard that measures a real RTP pacer carrying 20 senders, one of
        // which stalls 30 ms in every 20 ms tick (the others are late behind it, as on a pacer starved of CPU),
        // sampled every 200 ms
        RtpPacer pacer = new RtpPacer("it-pacer", 1);
        List<RtpPacer.Handle> senders = new java.util.ArrayList<>();
        for (int i = 0; i < 20; i++) {
            boolean stalls = i == 0;
            senders.add(pacer.schedule(new RtpPacer.Task() {
                @Override
                public long periodNanos() {
                    return 20_000_000L;
                }

                @Override
                public void tick(long scheduledNanos) {
                    if (stalls) {
                        java.util.concurrent.locks.LockSupport.parkNanos(30_000_000L);
                    }
                }
            }, System.nanoTime()));
        }
        OverloadConfig thresholds = new OverloadConfig(true, 10, 100, 5, 100, Duration.ofMillis(200), 2, 7);
        try (OverloadGuard guard = new OverloadGuard(thresholds, OverloadGuard.measuring(pacer), metrics)) {
            start(config());
            agent.setOverloadGate(guard);
            guard.start();
            awaitCondition(guard::overloaded, "guard reports overload");

            // When a caller calls while the bridge reports overload
            Sipp.Running refused = new Sipp(tmp, "uac_refused.xml", Map.of("STATUS", "503", "FORMATS", "0")).start(agent.port());
            Sipp.Result refusedResult = refused.await(45);

            // Then it gets 503 with Retry-After, counted as an overload refusal, and no call reached the listener
            assertThat(refusedResult.passed()).as(refusedResult.log()).isTrue();
            assertThat(refused.messages()).contains("SIP/2.0 503 ").containsPattern("Retry-After: 7\\b");
            assertThat(metrics.count("omnicall_bridge_sip_rejected_total", "reason", "overload")).isEqualTo(1);
            assertThat(metrics.registry().find("omnicall_bridge_overloaded").gauge().value()).isEqualTo(1.0);
            assertThat(listener.events).isEmpty();

            // When the load goes away (its senders end: no late ticks for two samples in a row)
            senders.forEach(RtpPacer.Handle::cancel);
            awaitCondition(() -> !guard.overloaded(), "guard reports recovery");

            // Then the next call is answered
            Sipp.Result answered = sipp("uac_call_bye.xml", Map.of(), "-d", "200");
            assertThat(answered.passed()).as(answered.log()).isTrue();
            assertThat(listener.events).containsExactly("invite call-1 PCMU", "answered call-1", "ended call-1 BYE");
            assertThat(metrics.count("omnicall_bridge_sip_rejected_total", "reason", "overload")).isEqualTo(1);
            assertThat(metrics.registry().find("omnicall_bridge_overloaded").gauge().value()).isEqualTo(0.0);
        } finally {
            senders.forEach(RtpPacer.Handle::cancel);
            pacer.close();
        }
    }

    private static void awaitCondition(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
        long end = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("timed out waiting: " + what);
            }
            Thread.sleep(20);
        }
    }

    @Test
    void shouldRefuseOfferWithoutG711With488() throws Exception {
        start(config());

        // G.722 (static payload type 9) only
        Sipp.Result result = sipp("uac_refused.xml", Map.of("STATUS", "488", "FORMATS", "9"));

        assertThat(result.passed()).as(result.log()).isTrue();
        assertThat(metrics.count("omnicall_bridge_sip_rejected_total", "reason", "no_common_codec")).isEqualTo(1);
        assertThat(listener.events).isEmpty();
    }

    @Test
    void shouldRefuseSourceOutsideAllowlistWith403() throws Exception {
        start(config().withAllowedSources(List.of("10.0.0.0/8", "192.168.0.0/16")));

        Sipp.Result result = sipp("uac_refused.xml", Map.of("STATUS", "403", "FORMATS", "0"));

        assertThat(result.passed()).as(result.log()).isTrue();
        assertThat(metrics.count("omnicall_bridge_sip_rejected_total", "reason", "forbidden_source")).isEqualTo(1);
        assertThat(listener.events).isEmpty();
    }

    @Test
    void shouldRefuseSecondInviteOfABurstWith503WhenRateLimited() throws Exception {
        // Given one INVITE per source per ~16 minutes, burst 1
        start(config().withRateLimit(0.001, 1));

        Sipp.Result first = sipp("uac_call_bye.xml", Map.of(), "-d", "100");
        Sipp.Result second = sipp("uac_refused.xml", Map.of("STATUS", "503", "FORMATS", "0"));

        assertThat(first.passed()).as(first.log()).isTrue();
        assertThat(second.passed()).as(second.log()).isTrue();
        assertThat(metrics.count("omnicall_bridge_sip_rejected_total", "reason", "rate_limited")).isEqualTo(1);
    }

    @Test
    void shouldChallengeThenAcceptValidDigestCredentials_rfc3261_22_4() throws Exception {
        start(config().withAuth("omnicall.test", Map.of("alice", "s3cret")));

        Sipp.Result result = sipp("uac_auth.xml", Map.of(), "-au", "alice", "-ap", "s3cret", "-d", "100");

        assertThat(result.passed()).as(result.log()).isTrue();
        assertThat(metrics.count("omnicall_bridge_sip_rejected_total", "reason", "auth_challenge")).isEqualTo(1);
        assertThat(listener.events).containsExactly("invite call-1 PCMU", "answered call-1", "ended call-1 BYE");
    }

    @Test
    void shouldRefuseWrongDigestPasswordWith403() throws Exception {
        start(config().withAuth("omnicall.test", Map.of("alice", "s3cret")));

        Sipp.Result result = sipp("uac_auth.xml", Map.of(), "-au", "alice", "-ap", "wrong", "-d", "100");

        // sipp expected a 200 after authenticating: it fails on our 403
        assertThat(result.passed()).isFalse();
        assertThat(result.log()).contains("SIP/2.0 403 Forbidden");
        assertThat(metrics.count("omnicall_bridge_sip_rejected_total", "reason", "auth_failed")).isEqualTo(1);
        assertThat(listener.events).isEmpty();
    }

    @Test
    void shouldTellListenerAboutHoldAndResume_rfc3264_8_4() throws Exception {
        start(config());

        Sipp.Result result = sipp("uac_hold_resume.xml", Map.of("HOLD_MS", "200"));

        assertThat(result.passed()).as(result.log()).isTrue();
        assertThat(listener.events).containsExactly("invite call-1 PCMU", "answered call-1",
                "media call-1 SENDONLY", "media call-1 SENDRECV", "ended call-1 BYE");
    }

    @Test
    void shouldSendByeWhenBridgeHangsUp() throws Exception {
        // Given a listener that hangs up 300 ms after answering
        listener.hangupAfterMs = 300;
        start(config());

        Sipp.Result result = sipp("uac_wait_bye.xml", Map.of("WAIT_MS", "10000"));

        assertThat(result.passed()).as(result.log()).isTrue();
        assertThat(listener.events).containsExactly("invite call-1 PCMU", "answered call-1");
        assertThat(agent.liveCalls()).isZero();
    }

    @Test
    void shouldAnswerOptionsWithAllow() throws Exception {
        start(config());

        Sipp.Result result = sipp("uac_options.xml", Map.of());

        assertThat(result.passed()).as(result.log()).isTrue();
    }

    @Test
    void shouldCountMalformedDatagramsAndKeepServing() throws Exception {
        // Given a running user agent
        start(config());

        // When garbage and a request without mandatory headers arrive over UDP
        try (DatagramSocket s = new DatagramSocket()) {
            for (String junk : List.of("\u0000\u0001garbage\r\n\r\n", "INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n",
                    "SIP/2.0 abc\r\n\r\n", "OPTIONS sip:bot@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n",
                    // regression: this Via made JAIN-SIP's parser run out of memory (found by SipMessageFuzzTest)
                    "OPTIONS sip:bot@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4 (c\\\r\nCall-ID: x\r\n\r\n")) {
                byte[] b = junk.getBytes(StandardCharsets.ISO_8859_1);
                s.send(new DatagramPacket(b, b.length, InetAddress.getLoopbackAddress(), agent.port()));
            }
        }

        // Then it still answers a real caller, and the bad input was counted
        Sipp.Result result = sipp("uac_options.xml", Map.of());
        assertThat(result.passed()).as(result.log()).isTrue();
        double malformed = metrics.count("omnicall_bridge_sip_malformed_total", "kind", "parse_error")
                + metrics.count("omnicall_bridge_sip_malformed_total", "kind", "bad_header")
                + metrics.count("omnicall_bridge_sip_malformed_total", "kind", "missing_header");
        assertThat(malformed).isGreaterThanOrEqualTo(3);
        assertThat(metrics.count("omnicall_bridge_sip_malformed_total", "kind", "hostile_header")).isEqualTo(1);
    }

    @Test
    void shouldThrowClearErrorWhenPortIsTaken() throws Exception {
        SipConfig c = config();
        try (DatagramSocket taken = new DatagramSocket(c.port(), InetAddress.getLoopbackAddress())) {
            SipUserAgent ua = new SipUserAgent(c, listener, metrics);
            org.assertj.core.api.Assertions.assertThatThrownBy(ua::start)
                    .isInstanceOf(SipStartException.class)
                    .hasMessageContaining("127.0.0.1:" + c.port());
        }
    }

    /** Waits up to 20 s for the listener's event; a timeout says what the caller (if given) did meanwhile. */
    private void awaitEvent(String event, Sipp.Running caller) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!listener.events.contains(event)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no '" + event + "' in " + listener.events
                        + (caller == null ? "" : "\n" + caller.diagnostics()));
            }
            Thread.sleep(20);
        }
    }

    /** Stands in for the call layer: names calls call-1, call-2, ... and writes down every callback. */
    static final class RecordingListener implements SipCallListener {
        final List<String> events = new CopyOnWriteArrayList<>();
        final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        volatile SipUserAgent agent;
        volatile long hangupAfterMs = -1;
        private int next;

        @Override
        public synchronized Acceptance onInvite(SipCall call) {
            String id = "call-" + (++next);
            events.add("invite " + id + " " + call.media().codec());
            return new Acceptance(id, 40000);
        }

        @Override
        public void onAnswered(SipCall call) {
            events.add("answered " + call.callId());
            if (hangupAfterMs >= 0) {
                timer.schedule(() -> agent.hangup(call), hangupAfterMs, TimeUnit.MILLISECONDS);
            }
        }

        @Override
        public void onMediaChanged(SipCall call, NegotiatedMedia media) {
            events.add("media " + call.callId() + " " + media.offerDirection());
        }

        @Override
        public void onRemoteEnd(SipCall call, RemoteEnd why, String detail) {
            events.add("ended " + call.callId() + " " + why);
        }
    }
}
