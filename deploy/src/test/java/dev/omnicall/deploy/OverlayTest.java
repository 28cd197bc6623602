package dev.omnicall.deploy;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** What makes prod a GPU deployment and dev a laptop one. */
class OverlayTest {

    private static final Rendered PROD = Rendered.prod();
    private static final Rendered DEV = Rendered.dev();

    @Test
    void shouldGiveEachProdWorkerOneGpuOnAGpuNode() {
        PodTemplateSpec worker = PROD.get(Deployment.class, "omnicall-worker").getSpec().getTemplate();
        Container app = Pods.app(worker);

        assertThat(app.getResources().getLimits()).containsEntry("nvidia.com/gpu", new Quantity("1"));
        assertThat(app.getResources().getRequests()).containsEntry("nvidia.com/gpu", new Quantity("1"));
        // The one GPU the device plugin exposes is index 0 inside the container
        assertThat(Pods.envValue(app, "OMNICALL_MODEL_DEVICE")).isEqualTo("gpu:0");
        assertThat(Kustomize.imageName(app.getImage())).isEqualTo("omnicall/omnicall-gpu");
        assertThat(worker.getSpec().getNodeSelector()).containsEntry("nvidia.com/gpu.present", "true");
        assertThat(worker.getSpec().getTolerations()).anySatisfy(t -> {
            assertThat(t.getKey()).isEqualTo("nvidia.com/gpu");
            assertThat(t.getEffect()).isEqualTo("NoSchedule");
        });

        // No other workload holds a GPU or runs the CUDA image
        PROD.podTemplates().forEach((workload, template) -> {
            if (!workload.equals("omnicall-worker")) {
                Container other = Pods.app(template);
                assertThat(other.getResources().getLimits()).as(workload).doesNotContainKey("nvidia.com/gpu");
                assertThat(Kustomize.imageName(other.getImage())).as(workload).isEqualTo("omnicall/omnicall-cpu");
            }
        });
    }

    @Test
    void shouldReadTheProdModelFromAVersionDirectoryOnAReadOnlyVolume() {
        PodTemplateSpec worker = PROD.get(Deployment.class, "omnicall-worker").getSpec().getTemplate();
        Container app = Pods.app(worker);
        String modelDir = Pods.envValue(app, "OMNICALL_MODEL_DIR");

        VolumeMount mount = app.getVolumeMounts().stream()
                .filter(m -> modelDir.startsWith(m.getMountPath() + "/")).findFirst().orElseThrow();
        Volume volume = worker.getSpec().getVolumes().stream()
                .filter(v -> v.getName().equals(mount.getName())).findFirst().orElseThrow();

        // A version directory below the mount, so a new model is a new directory and a changed value
        assertThat(modelDir.substring(mount.getMountPath().length() + 1)).matches("[a-z0-9.-]+-v[0-9][a-z0-9.-]*");
        assertThat(mount.getReadOnly()).isTrue();
        assertThat(volume.getPersistentVolumeClaim().getReadOnly()).isTrue();
        PersistentVolumeClaim claim = PROD.get(PersistentVolumeClaim.class, volume.getPersistentVolumeClaim().getClaimName());
        assertThat(claim.getSpec().getAccessModes()).containsExactly("ReadOnlyMany");
        // A wrong path fails the pod instead of serving a tiny random checkpoint
        assertThat(Pods.envValue(app, "OMNICALL_MODEL_WRITE_TINY_IF_MISSING")).isEqualTo("false");
    }

    @Test
    void shouldScrapeEveryProdPodThroughThePodMonitor() {
        GenericKubernetesResource monitor = PROD.custom("PodMonitor", "omnicall");
        @SuppressWarnings("unchecked")
        Map<String, String> selector = (Map<String, String>) monitor.get("spec", "selector", "matchLabels");
        List<Map<String, Object>> endpoints = KubernetesManifestTest.listOfMaps(monitor.getAdditionalProperties(), "spec", "podMetricsEndpoints");

        assertThat(endpoints).singleElement().satisfies(e -> {
            assertThat(e.get("path")).isEqualTo("/q/metrics");
            assertThat(e.get("port")).isEqualTo("http");
        });
        PROD.podTemplates().forEach((workload, template) ->
                assertThat(template.getMetadata().getLabels().entrySet()).as(workload).containsAll(selector.entrySet()));
    }

    @Test
    void shouldSizeProdForTheWorkedExampleOfTheReadme() {
        // 34 GPUs needed at peak, ceiling 48; 96 partitions; 10 bridges of 250 calls for 2,000 calls
        GenericKubernetesResource scaler = PROD.custom("ScaledObject", "omnicall-worker");
        assertThat(((Number) scaler.get("spec", "maxReplicaCount")).intValue()).isGreaterThanOrEqualTo(34);
        assertThat(PROD.appConfigInt("OMNICALL_KAFKA_PARTITIONS")).isEqualTo(96);
        var bridge = PROD.get(io.fabric8.kubernetes.api.model.apps.StatefulSet.class, "omnicall-bridge");
        int calls = Integer.parseInt(Pods.envValue(Pods.app(bridge.getSpec().getTemplate()), "OMNICALL_SIP_MAX_CALLS"));
        assertThat((bridge.getSpec().getReplicas() - 1) * calls).as("2,000 calls with one bridge down").isGreaterThanOrEqualTo(2000);
    }

    @Test
    void shouldRunDevOnCpuWithTheTinyModelInAWritableDirectory() {
        PodTemplateSpec worker = DEV.get(Deployment.class, "omnicall-worker").getSpec().getTemplate();
        Container app = Pods.app(worker);
        assertThat(Pods.envValue(app, "OMNICALL_MODEL_DEVICE")).isEqualTo("cpu");
        String modelDir = Pods.envValue(app, "OMNICALL_MODEL_DIR");
        VolumeMount mount = app.getVolumeMounts().stream()
                .filter(m -> modelDir.startsWith(m.getMountPath() + "/")).findFirst().orElseThrow();
        assertThat(mount.getReadOnly()).isNotEqualTo(Boolean.TRUE);
        assertThat(worker.getSpec().getVolumes()).filteredOn(v -> v.getName().equals(mount.getName()))
                .singleElement().satisfies(v -> assertThat(v.getEmptyDir()).isNotNull());
        DEV.podTemplates().forEach((workload, template) -> {
            assertThat(Pods.app(template).getResources().getLimits()).as(workload).doesNotContainKey("nvidia.com/gpu");
            assertThat(template.getSpec().getNodeSelector()).as(workload).isNullOrEmpty();
        });
    }

    @Test
    void shouldFitDevOnALaptopCluster() {
        BigDecimal cpu = BigDecimal.ZERO;
        BigDecimal memory = BigDecimal.ZERO;
        for (PodTemplateSpec template : DEV.podTemplates().values()) {
            Map<String, Quantity> requests = Pods.app(template).getResources().getRequests();
            cpu = cpu.add(requests.get("cpu").getNumericalAmount());
            memory = memory.add(requests.get("memory").getNumericalAmount());
        }
        for (GenericKubernetesResource pool : DEV.custom("KafkaNodePool")) {
            assertThat(((Number) pool.get("spec", "replicas")).intValue()).isEqualTo(1);
            cpu = cpu.add(new Quantity(String.valueOf((Object) pool.get("spec", "resources", "requests", "cpu"))).getNumericalAmount());
            memory = memory.add(new Quantity(String.valueOf((Object) pool.get("spec", "resources", "requests", "memory"))).getNumericalAmount());
        }
        // Every workload runs one pod in dev (KEDA may add up to two CPU workers on load)
        assertThat(cpu).as("CPU cores requested").isLessThanOrEqualTo(new BigDecimal("3"));
        assertThat(memory).as("bytes of memory requested").isLessThanOrEqualTo(new Quantity("8Gi").getNumericalAmount());
    }
}
