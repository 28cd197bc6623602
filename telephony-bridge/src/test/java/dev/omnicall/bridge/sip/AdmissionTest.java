package dev.omnicall.bridge.sip;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class AdmissionTest {

    private static InetAddress ip(String s) throws Exception {
        return InetAddress.getByName(s);
    }

    @Test
    void shouldAllowOnlyAddressesInsideConfiguredCidrs() throws Exception {
        CidrAllowlist list = CidrAllowlist.parse(List.of("10.0.0.0/8", "192.168.1.128/25", "127.0.0.1", "::1/128"));

        assertThat(list.allows(ip("10.200.3.4"))).isTrue();
        assertThat(list.allows(ip("192.168.1.200"))).isTrue();
        assertThat(list.allows(ip("192.168.1.127"))).isFalse();
        assertThat(list.allows(ip("127.0.0.1"))).isTrue();
        assertThat(list.allows(ip("127.0.0.2"))).isFalse();
        assertThat(list.allows(ip("::1"))).isTrue();
        assertThat(list.allows(ip("11.0.0.1"))).isFalse();
    }

    @Test
    void shouldAllowEverySourceWhenListIsEmpty() throws Exception {
        assertThat(CidrAllowlist.parse(List.of()).allows(ip("203.0.113.9"))).isTrue();
    }

    @Test
    void shouldRefuseHostNamesAndBadPrefixesWithTheEntryNamed() {
        assertThatThrownBy(() -> CidrAllowlist.parse(List.of("example.com/8"))).hasMessageContaining("example.com/8");
        assertThatThrownBy(() -> CidrAllowlist.parse(List.of("10.0.0.0/33"))).hasMessageContaining("0..32");
    }

    @Test
    void shouldRefuseInvitesBeyondBurstUntilTokensRefill() throws Exception {
        AtomicLong clock = new AtomicLong();
        InviteRateLimiter limiter = new InviteRateLimiter(2, 3, clock::get);
        InetAddress a = ip("10.0.0.1");
        InetAddress b = ip("10.0.0.2");

        assertThat(limiter.tryAcquire(a)).isTrue();
        assertThat(limiter.tryAcquire(a)).isTrue();
        assertThat(limiter.tryAcquire(a)).isTrue();
        assertThat(limiter.tryAcquire(a)).isFalse();
        assertThat(limiter.tryAcquire(b)).as("other sources have their own bucket").isTrue();

        clock.addAndGet(500_000_000L); // 0.5 s at 2/s = one token
        assertThat(limiter.tryAcquire(a)).isTrue();
        assertThat(limiter.tryAcquire(a)).isFalse();
    }
}
