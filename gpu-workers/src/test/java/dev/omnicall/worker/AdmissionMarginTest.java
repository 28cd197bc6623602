package dev.omnicall.worker;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class AdmissionMarginTest {

    private static final DeviceSpec GPU = new DeviceSpec(0);

    @Test
    void shouldHoldNewcomersOnAGpuAndNotOnTheCpuWhenUnsetOrAuto() {
        // Given no setting, or auto
        for (String setting : new String[] {null, "", " auto ", "AUTO"}) {
            // Then a GPU worker guards its speaking turns by 400 ms, a CPU worker admits every newcomer
            assertThat(AdmissionMargin.resolve(setting, GPU)).as("'%s' on a GPU", setting)
                    .contains(Duration.ofMillis(AdmissionMargin.GPU_DEFAULT_MS));
            assertThat(AdmissionMargin.resolve(setting, DeviceSpec.CPU)).as("'%s' on the CPU", setting).isEmpty();
        }
    }

    @Test
    void shouldTakeAnExplicitMarginOrOffOnEitherDevice() {
        assertThat(AdmissionMargin.resolve("off", GPU)).isEmpty();
        assertThat(AdmissionMargin.resolve("Off", DeviceSpec.CPU)).isEmpty();
        assertThat(AdmissionMargin.resolve("250", DeviceSpec.CPU)).contains(Duration.ofMillis(250));
        assertThat(AdmissionMargin.resolve("0", GPU)).contains(Duration.ZERO);
    }

    @Test
    void shouldRefuseAnythingElseNamingTheKeyAndTheValuesItTakes() {
        for (String bad : new String[] {"-1", "400ms", "on", "1.5"}) {
            assertThatThrownBy(() -> AdmissionMargin.resolve(bad, GPU)).as(bad)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("omnicall.worker.admission-margin-ms='" + bad + "'")
                    .hasMessageContaining("auto").hasMessageContaining("off");
            assertThat(AdmissionMargin.problem(bad)).as(bad).isPresent();
        }
        assertThat(AdmissionMargin.problem("auto")).isEqualTo(Optional.empty());
    }
}
