package dev.omnicall.reliability.proc;

import dev.omnicall.bridge.BridgeConfig;
import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.bridge.BridgeServer;
import dev.omnicall.bridge.media.MediaConfig;
import dev.omnicall.bridge.sip.SipConfig;
import dev.omnicall.bridge.vad.VadFactory;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;

import java.util.Map;

/**
 * A telephony bridge alone in a JVM: {@code kafka.*} keys plus {@code sip-port=}, {@code rtp-port-min=},
 * optional {@code sip-user=} and {@code sip-password=} (digest auth on). Energy VAD. Prints
 * {@code READY bridge} once SIP listens.
 */
public final class BridgeMain {

    private BridgeMain() {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = Args.parse(argv);
        KafkaSettings kafka = KafkaSettings.fromProperties(args);
        int port = Integer.parseInt(Args.required(args, "sip-port"));
        int rtp = Integer.parseInt(Args.required(args, "rtp-port-min"));
        SipConfig sip = SipConfig.defaults("127.0.0.1", port, "127.0.0.1").withMaxCalls(10);
        if (args.containsKey("sip-user")) {
            sip = sip.withAuth("omnicall", Map.of(args.get("sip-user"), Args.required(args, "sip-password")));
        }
        VadFactory vad = VadFactory.energyOnly();
        BridgeConfig config = BridgeConfig.single(args.getOrDefault("bridge-id", "proc-bridge"), sip,
                MediaConfig.defaults(vad), kafka, SerdeConfig.embedded()).withRtpPorts(rtp, rtp + 40);
        BridgeServer bridge = new BridgeServer(config, BridgeMetrics.inMemory());
        Runtime.getRuntime().addShutdownHook(new Thread(bridge::stop, "bridge-shutdown"));
        bridge.start();
        System.out.println("READY bridge sip=" + port);
        System.out.flush();
        Thread.currentThread().join();
    }
}
