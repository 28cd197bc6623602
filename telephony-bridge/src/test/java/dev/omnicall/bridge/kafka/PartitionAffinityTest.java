package dev.omnicall.bridge.kafka;

import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PartitionAffinityTest {

    @Test
    void shouldOwnEveryCountthPartitionFromItsIndex() {
        assertThat(new PartitionAffinity(1, 3, 12).ownedPartitions()).containsExactly(1, 4, 7, 10);
        assertThat(new PartitionAffinity(0, 1, 4).ownedPartitions()).containsExactly(0, 1, 2, 3);
    }

    @Test
    void shouldMintCallIdsThatTheProducerPartitionerSendsToOwnedPartitions() {
        PartitionAffinity affinity = new PartitionAffinity(7, 10, 30);
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 300; i++) {
            String id = affinity.newCallId();
            // the same function Kafka's producer uses for keyed records
            int partition = BuiltInPartitioner.partitionForKey(id.getBytes(StandardCharsets.UTF_8), 30);
            assertThat(partition).isEqualTo(affinity.partitionOf(id));
            assertThat(affinity.ownedPartitions()).contains(partition);
            seen.add(partition);
        }
        assertThat(seen).containsExactlyInAnyOrder(7, 17, 27);
    }

    @Test
    void shouldRefuseMoreBridgesThanPartitions() {
        assertThatThrownBy(() -> new PartitionAffinity(0, 4, 3)).hasMessageContaining("3 partitions but there are 4 bridges");
        assertThatThrownBy(() -> new PartitionAffinity(3, 3, 6)).hasMessageContaining("0..2");
    }
}
