package dev.omnicall.bridge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.omnicall.bridge.OverloadGuard.LoadSample;
import dev.omnicall.bridge.media.RtpPacer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class OverloadGuardTest {
    private static final OverloadConfig CONFIG = new OverloadConfig(true, 10, 85, 5, 70, Duration.ofMillis(100), 3, 5);
    private final BridgeMetrics metrics = BridgeMetrics.inMemory();
    private final OverloadGuard guard = new OverloadGuard(CONFIG, () -> new LoadSample(0, 0, 0), metrics);

    private static LoadSample late(long p99Micros) {
        return new LoadSample(p99Micros, 500, 20);
    }

    private double gauge() {
        return gauge(metrics);
    }

    private static double gauge(BridgeMetrics m) {
        return m.registry().find("omnicall_bridge_overloaded").gauge().value();
    }

    /** Refusing from a calm start: the default number of late samples in a row. */
    private static void overload(OverloadGuard g, LoadSample sample) {
        for (int i = 0; i < OverloadConfig.DEFAULT_REFUSE_AFTER_SAMPLES; i++) {
            g.onSample(sample);
        }
        assertThat(g.overloaded()).as("refusing after %d samples of %s", OverloadConfig.DEFAULT_REFUSE_AFTER_SAMPLES,
                sample).isTrue();
    }

    @Test
    void shouldNotRefuseACallForOneLateSample() {
        // Given the app's guard (lateness only, refuse at p99 20 ms) on an all-roles JVM whose pacer is on time
        OverloadGuard app = new OverloadGuard(OverloadConfig.latenessOnly(20, 10), () -> null, BridgeMetrics.inMemory());
        app.onSample(new LoadSample(1_200, 25, 100));

        // When one 0.5 s sample holds a JIT or GC pause (clean-clone CI: p99 21 ms over 25 ticks refused a test call)
        app.onSample(new LoadSample(21_000, 25, 100));

        // Then the bridge still takes calls
        assertThat(app.overloaded()).isFalse();
        assertThat(app.refuseForSeconds()).isZero();

        // and a pause straddling a sample boundary (two late samples, then on time) does not refuse either
        app.onSample(new LoadSample(900, 25, 100));
        app.onSample(new LoadSample(180_000, 25, 100));
        app.onSample(new LoadSample(35_000, 25, 100));
        app.onSample(new LoadSample(1_100, 25, 100));
        assertThat(app.overloaded()).isFalse();

        // nor do spikes that keep coming back with on-time samples between them: lateness must last
        for (int i = 0; i < 40; i++) {
            app.onSample(new LoadSample(i % 3 == 2 ? 800 : 60_000, 25, 100));
        }
        assertThat(app.overloaded()).isFalse();
    }

    @Test
    void shouldRefuseWhenLatenessLastsRefuseAfterSamplesInARow() {
        BridgeMetrics appMetrics = BridgeMetrics.inMemory();
        OverloadGuard app = new OverloadGuard(OverloadConfig.latenessOnly(20, 10), () -> null, appMetrics);
        assertThat(OverloadConfig.latenessOnly(20, 10).refuseAfterSamples()).isEqualTo(3);
        app.onSample(new LoadSample(21_000, 25, 3));
        app.onSample(new LoadSample(22_000, 25, 3));
        assertThat(app.overloaded()).as("two late samples").isFalse();
        assertThat(gauge(appMetrics)).isZero();

        // the third late sample in a row: 1.5 s of lateness at the default 0.5 s interval
        app.onSample(new LoadSample(20_000, 25, 3));
        assertThat(app.overloaded()).isTrue();
        assertThat(app.refuseForSeconds()).isEqualTo(5);
        assertThat(gauge(appMetrics)).isEqualTo(1.0);
    }

    @Test
    void shouldCountLateAndHotSamplesTogetherAndStartOverAfterACalmOne() {
        // lateness, CPU, lateness: three samples over a threshold in a row
        guard.onSample(late(10_000));
        guard.onSample(new LoadSample(1_000, 500, 85));
        assertThat(guard.overloaded()).isFalse();
        guard.onSample(late(12_000));
        assertThat(guard.overloaded()).isTrue();

        // under both refuse thresholds (not calm enough to resume, but not late either) breaks the run
        OverloadGuard other = new OverloadGuard(CONFIG, () -> null, BridgeMetrics.inMemory());
        other.onSample(late(15_000));
        other.onSample(late(15_000));
        other.onSample(late(9_990));
        other.onSample(late(15_000));
        other.onSample(late(15_000));
        assertThat(other.overloaded()).isFalse();
        other.onSample(late(15_000));
        assertThat(other.overloaded()).isTrue();
    }

    @Test
    void shouldRefuseFromTheFirstSampleOverEitherThresholdWhenRefuseAfterSamplesIsOne() {
        OverloadConfig first = CONFIG.withRefuseAfterSamples(1);
        BridgeMetrics firstMetrics = BridgeMetrics.inMemory();
        OverloadGuard g = new OverloadGuard(first, () -> null, firstMetrics);
        g.onSample(late(9_990));
        g.onSample(new LoadSample(1_000, 500, 84.9));
        assertThat(g.overloaded()).isFalse();
        assertThat(g.refuseForSeconds()).isZero();
        assertThat(gauge(firstMetrics)).isZero();

        g.onSample(late(10_000));
        assertThat(g.overloaded()).isTrue();
        assertThat(g.refuseForSeconds()).isEqualTo(5);
        assertThat(gauge(firstMetrics)).isEqualTo(1.0);

        OverloadGuard byCpu = new OverloadGuard(first, () -> null, BridgeMetrics.inMemory());
        byCpu.onSample(new LoadSample(1_000, 500, 85));
        assertThat(byCpu.overloaded()).isTrue();
    }

    @Test
    void shouldNeedAFreshRunOfLateSamplesAfterRecovering() {
        overload(guard, late(30_000));
        for (int i = 0; i < 3; i++) {
            guard.onSample(late(1_000));
        }
        assertThat(guard.overloaded()).isFalse();
        // the samples before the overload do not count towards the next one
        guard.onSample(late(30_000));
        guard.onSample(late(30_000));
        assertThat(guard.overloaded()).isFalse();
        guard.onSample(late(30_000));
        assertThat(guard.overloaded()).isTrue();
    }

    @Test
    void shouldTakeCallsAgainOnlyAfterEnoughCalmSamplesInARow() {
        overload(guard, late(30_000));
        // between the resume and the refuse thresholds: still refusing (hysteresis)
        guard.onSample(late(7_000));
        guard.onSample(late(7_000));
        guard.onSample(late(7_000));
        guard.onSample(late(7_000));
        assertThat(guard.overloaded()).isTrue();
        // two calm, then one that is not: the count starts again
        guard.onSample(late(1_000));
        guard.onSample(late(1_000));
        guard.onSample(new LoadSample(1_000, 500, 75));
        guard.onSample(late(1_000));
        guard.onSample(late(1_000));
        assertThat(guard.overloaded()).isTrue();
        guard.onSample(late(1_000));
        assertThat(guard.overloaded()).isFalse();
        assertThat(guard.refuseForSeconds()).isZero();
        assertThat(gauge()).isZero();
    }

    @Test
    void shouldTakeCallsOnABusyProcessWhosePacerIsOnTimeWhenJudgingLatenessOnly() {
        // what a 2-core CI box running every role in one process reads while the worker decodes a reply: the
        // process uses both cores, the bridge's pacer is still on time (p99 3 ms over 50 ticks)
        LoadSample busyButOnTime = new LoadSample(3_000, 50, 100);
        OverloadGuard withCpu = new OverloadGuard(OverloadConfig.defaults(), () -> null, BridgeMetrics.inMemory());
        overload(withCpu, busyButOnTime); // CPU judged: a test call would get 503

        OverloadGuard latenessOnly = new OverloadGuard(OverloadConfig.latenessOnly(20, 10), () -> null,
                BridgeMetrics.inMemory());
        for (int i = 0; i < 5; i++) {
            latenessOnly.onSample(busyButOnTime);
            latenessOnly.onSample(new LoadSample(19_999, 50, 100));
        }
        assertThat(latenessOnly.overloaded()).as("lateness only, under the bound").isFalse();
        // the pacer a packet time late at p99, sample after sample: the calls' audio is about to get gaps
        overload(latenessOnly, new LoadSample(20_000, 50, 3));
        for (int i = 0; i < 3; i++) {
            latenessOnly.onSample(new LoadSample(9_000, 50, 100)); // calm on lateness, whatever the CPU
        }
        assertThat(latenessOnly.overloaded()).as("3 of 4 calm samples").isTrue();
        latenessOnly.onSample(new LoadSample(9_000, 50, 100));
        assertThat(latenessOnly.overloaded()).isFalse();
        assertThat(OverloadConfig.latenessOnly(20, 10).judgesCpu()).isFalse();
    }

    @Test
    void shouldRefuseWhileTheReceiveBacklogGrowsWithThePacerOnTimeAndTakeCallsWhenItDrains() {
        // Given the app's guard (lateness only, CPU not judged) and the default receive-lag thresholds (60 / 20 ms)
        BridgeMetrics appMetrics = BridgeMetrics.inMemory();
        OverloadConfig config = OverloadConfig.latenessOnly(20, 10);
        assertThat(config.refuseReceiveLagMs()).isEqualTo(OverloadConfig.DEFAULT_REFUSE_RECEIVE_LAG_MS).isEqualTo(60);
        assertThat(config.resumeReceiveLagMs()).isEqualTo(20);
        OverloadGuard app = new OverloadGuard(config, () -> null, appMetrics);

        // When a receive thread is held (a Silero backlog) while the pacer stays on time (p99 2 ms, 500 ticks, 30 % CPU):
        // 0.5 s, 1 s, 1.5 s of caller audio waiting in the sockets
        app.onSample(new LoadSample(2_000, 500, 30, 500_000));
        app.onSample(new LoadSample(2_000, 500, 30, 1_000_000));
        assertThat(app.overloaded()).as("two lagging samples").isFalse();
        assertThat(app.tripped(new LoadSample(2_000, 500, 30, 1_000_000))).isEqualTo("receive_lag");
        app.onSample(new LoadSample(2_000, 500, 30, 1_500_000));

        // Then new calls are refused, and the gauge shows the lag
        assertThat(app.overloaded()).isTrue();
        assertThat(app.refuseForSeconds()).isEqualTo(5);
        assertThat(gauge(appMetrics)).isEqualTo(1.0);
        assertThat(appMetrics.registry().find("omnicall_bridge_receive_lag_seconds").gauge().value()).isEqualTo(1.5);

        // While it drains through the resume threshold it keeps refusing (hysteresis): 59 ms is under the refuse
        // bound, not calm
        for (int i = 0; i < 6; i++) {
            app.onSample(new LoadSample(2_000, 500, 30, 59_000));
        }
        assertThat(app.overloaded()).isTrue();
        // three calm samples, then one at exactly the resume bound: the count starts again
        for (int i = 0; i < 3; i++) {
            app.onSample(new LoadSample(2_000, 500, 30, 5_000));
        }
        app.onSample(new LoadSample(2_000, 500, 30, 20_000));
        for (int i = 0; i < 3; i++) {
            app.onSample(new LoadSample(2_000, 500, 30, 5_000));
        }
        assertThat(app.overloaded()).as("3 of 4 calm samples").isTrue();
        app.onSample(new LoadSample(2_000, 500, 30, 5_000));
        assertThat(app.overloaded()).isFalse();
        assertThat(gauge(appMetrics)).isZero();
        assertThat(appMetrics.registry().find("omnicall_bridge_receive_lag_seconds").gauge().value()).isEqualTo(0.005);

        // And a guard with receive lag off (refuse 0) never refuses on it
        OverloadGuard off = new OverloadGuard(config.withReceiveLag(0, 0), () -> null, BridgeMetrics.inMemory());
        for (int i = 0; i < 5; i++) {
            off.onSample(new LoadSample(2_000, 500, 30, 5_000_000));
        }
        assertThat(off.overloaded()).isFalse();
        assertThat(off.tripped(new LoadSample(2_000, 500, 30, 5_000_000))).isEqualTo("none");
    }

    @Test
    void shouldNameEverySignalOverItsThresholdForTheLog() {
        assertThat(guard.tripped(new LoadSample(10_000, 500, 85, 60_000))).isEqualTo("send_lateness,cpu,receive_lag");
        assertThat(guard.tripped(new LoadSample(9_999, 500, 84.9, 59_999))).isEqualTo("none");
        assertThat(guard.tripped(new LoadSample(10_000, OverloadGuard.MIN_TICKS - 1, 85, 0))).isEqualTo("cpu");
    }

    @Test
    void shouldNotJudgeLatenessOnTooFewTicks() {
        for (int i = 0; i < 5; i++) {
            guard.onSample(new LoadSample(50_000, OverloadGuard.MIN_TICKS - 1, 10)); // one call's hiccups
        }
        assertThat(guard.overloaded()).isFalse();
        overload(guard, new LoadSample(50_000, OverloadGuard.MIN_TICKS, 10));
    }

    @Test
    void shouldTreatAnIdleBridgeAsCalm() {
        overload(guard, late(20_000));
        for (int i = 0; i < 3; i++) {
            guard.onSample(new LoadSample(0, 0, 1)); // no calls: no ticks
        }
        assertThat(guard.overloaded()).isFalse();
    }

    @Test
    @Timeout(30)
    void shouldMeasurePacerLatenessFromItsTicks() throws Exception {
        // Given a real pacer whose one sender stalls 30 ms in every 20 ms tick (a pacer starved of CPU)
        try (RtpPacer pacer = new RtpPacer("guard-test-pacer", 1)) {
            AtomicBoolean stalling = new AtomicBoolean(true);
            RtpPacer.Handle h = pacer.schedule(new RtpPacer.Task() {
                @Override
                public long periodNanos() {
                    return 20_000_000L;
                }

                @Override
                public void tick(long scheduledNanos) {
                    if (stalling.get()) {
                        java.util.concurrent.locks.LockSupport.parkNanos(30_000_000L);
                    }
                }
            }, System.nanoTime());
            OverloadGuard.LoadSampler sampler = OverloadGuard.measuring(pacer);
            Thread.sleep(500);
            LoadSample stalled = sampler.sample();
            stalling.set(false);
            Thread.sleep(300);
            sampler.sample(); // the window with the change in it
            Thread.sleep(500);
            LoadSample onTime = sampler.sample();
            h.cancel();

            // Then the stalled window's p99 is over 10 ms, and the window after it is back near the floor
            assertThat(stalled.ticks()).isGreaterThan(5);
            assertThat(stalled.latenessP99Micros()).isGreaterThanOrEqualTo(10_000);
            assertThat(onTime.ticks()).isGreaterThan(10);
            assertThat(onTime.latenessP99Micros()).isLessThan(stalled.latenessP99Micros());
        }
    }

    @Test
    @Timeout(30)
    void shouldMeasureProcessCpuWhenBusyThreadsTakeTheCores() throws Exception {
        try (RtpPacer pacer = new RtpPacer("guard-cpu-pacer", 1)) {
            OverloadGuard.LoadSampler sampler = OverloadGuard.measuring(pacer);
            sampler.sample();
            AtomicBoolean busy = new AtomicBoolean(true);
            List<Thread> hogs = new ArrayList<>();
            java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
            for (int i = 0; i < 4 * Runtime.getRuntime().availableProcessors(); i++) {
                Thread t = new Thread(() -> {
                    long x = 0;
                    while (busy.get()) {
                        x += System.nanoTime() & 1;
                    }
                    if (x == -1) {
                        System.out.print("");
                    }
                });
                t.setDaemon(true);
                hogs.add(t);
            }
            long wall0 = System.nanoTime();
            sampler.sample();
            for (Thread t : hogs) {
                t.start();
            }
            Thread.sleep(1_000);
            long hogNanos = 0;
            for (Thread t : hogs) {
                hogNanos += Math.max(0, mx.getThreadCpuTime(t.getId()));
            }
            LoadSample loaded = sampler.sample();
            double hogPct = 100.0 * hogNanos / (System.nanoTime() - wall0) / Runtime.getRuntime().availableProcessors();
            busy.set(false);
            for (Thread t : hogs) {
                t.join();
            }
            // the box is shared, so no absolute figure: the reading holds at least what the busy threads burnt
            assertThat(hogPct).as("the busy threads ran").isGreaterThan(5);
            assertThat(loaded.cpuPct()).as("process CPU reading %s vs the busy threads' own %.1f %%", loaded, hogPct)
                    .isGreaterThanOrEqualTo(0.9 * hogPct);
        }
    }

    @Test
    void shouldRefuseThresholdsThatCannotWork() {
        assertThatThrownBy(() -> new OverloadConfig(true, 5, 85, 10, 70, Duration.ofMillis(500), 4, 5))
                .hasMessageContaining("resumeLatenessP99Ms <= refuseLatenessP99Ms");
        assertThatThrownBy(() -> new OverloadConfig(true, 10, 85, 5, 90, Duration.ofMillis(500), 4, 5))
                .hasMessageContaining("resumeCpuPct <= refuseCpuPct");
        assertThatThrownBy(() -> new OverloadConfig(true, 10, 85, 5, 70, Duration.ofMillis(10), 4, 5))
                .hasMessageContaining("sampleInterval");
        assertThatThrownBy(() -> new OverloadConfig(true, 10, 85, 5, 70, Duration.ofMillis(500), 4, 0))
                .hasMessageContaining("retryAfterSeconds");
        assertThatThrownBy(() -> OverloadConfig.defaults().withReceiveLag(20, 60))
                .hasMessageContaining("resumeReceiveLagMs <= refuseReceiveLagMs");
        assertThatThrownBy(() -> OverloadConfig.defaults().withReceiveLag(-1, 0))
                .hasMessageContaining("resumeReceiveLagMs <= refuseReceiveLagMs");
        assertThatThrownBy(() -> OverloadConfig.defaults().withRefuseAfterSamples(0))
                .hasMessageContaining("refuseAfterSamples, resumeAfterSamples and retryAfterSeconds must be at least 1,"
                        + " got 0, 4 and 5");
    }
}
