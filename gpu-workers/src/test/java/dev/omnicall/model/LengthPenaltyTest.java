package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class LengthPenaltyTest {

    @Test
    void shouldRankAsWhispersLengthPenaltyDoes() {
        // Given a hypothesis of 7 text tokens with summed log-probability -3.5
        // Then per token is whisper's default, and alpha divides by ((5 + 7) / 6) ^ alpha = 2 ^ alpha
        assertThat(LengthPenalty.PER_TOKEN.score(-3.5, 7)).isCloseTo(-0.5, within(1e-12));
        assertThat(LengthPenalty.alpha(1).score(-3.5, 7)).isCloseTo(-1.75, within(1e-12));
        assertThat(LengthPenalty.alpha(0).score(-3.5, 7)).as("summed").isCloseTo(-3.5, within(1e-12));
        assertThat(LengthPenalty.alpha(-1).score(-3.5, 7)).isCloseTo(-7.0, within(1e-12));
        // and an empty hypothesis counts one token per token, not a division by zero
        assertThat(LengthPenalty.PER_TOKEN.score(-2, 0)).isEqualTo(-2);
    }

    @Test
    void shouldPreferTheShorterOfTwoAnswersThatPerTokenRanksTheOtherWay() {
        // Given a 4-token answer at -0.5 per token and an 8-token one at -0.45 per token
        double shortSum = -2.0;
        double longSum = -3.6;
        // Then per token keeps the longer, the summed and negative alphas the shorter
        assertThat(LengthPenalty.PER_TOKEN.score(longSum, 8)).isGreaterThan(LengthPenalty.PER_TOKEN.score(shortSum, 4));
        assertThat(LengthPenalty.alpha(0).score(shortSum, 4)).isGreaterThan(LengthPenalty.alpha(0).score(longSum, 8));
        assertThat(LengthPenalty.alpha(-0.5).score(shortSum, 4))
                .isGreaterThan(LengthPenalty.alpha(-0.5).score(longSum, 8));
    }

    @Test
    void shouldParseWhatTheSettingsSayAndRefuseTheRest() {
        assertThat(LengthPenalty.parse("per-token")).isEqualTo(LengthPenalty.PER_TOKEN);
        assertThat(LengthPenalty.parse(" None ")).isEqualTo(LengthPenalty.PER_TOKEN);
        assertThat(LengthPenalty.parse("-0.5")).isEqualTo(LengthPenalty.alpha(-0.5));
        assertThat(LengthPenalty.parse("0").toString()).isEqualTo("0.0");
        assertThat(LengthPenalty.parse(LengthPenalty.PER_TOKEN.toString())).isEqualTo(LengthPenalty.PER_TOKEN);
        assertThatThrownBy(() -> LengthPenalty.parse("short")).hasMessageContaining("got 'short'");
        assertThatThrownBy(() -> LengthPenalty.parse("")).hasMessageContaining("got ''");
        assertThatThrownBy(() -> LengthPenalty.parse("NaN")).hasMessageContaining("got 'NaN'");
        assertThatThrownBy(() -> LengthPenalty.parse("1e9")).hasMessageContaining("-4..4");
        assertThatThrownBy(() -> LengthPenalty.alpha(9)).hasMessageContaining("-4..4");
    }
}
