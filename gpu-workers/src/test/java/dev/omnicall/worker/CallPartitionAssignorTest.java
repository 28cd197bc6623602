package dev.omnicall.worker;

import dev.omnicall.kafka.Topics;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The assignor as the group coordinator drives it: rounds of join/assign until nobody revokes anything, with
 * the cooperative rule and co-partitioning checked on every round.
 */
class CallPartitionAssignorTest {

    private static final String REQUESTS = Topics.TURN_REQUESTS.name();
    private static final String EVENTS = Topics.CALL_EVENTS.name();
    private static final List<String> TOPICS = List.of(REQUESTS, EVENTS);

    private final CallPartitionAssignor assignor = new CallPartitionAssignor();

    private static Cluster cluster(int partitions) {
        Node node = new Node(0, "127.0.0.1", 9092);
        List<PartitionInfo> infos = new ArrayList<>();
        for (String t : TOPICS) {
            for (int p = 0; p < partitions; p++) {
                infos.add(new PartitionInfo(t, p, node, new Node[]{node}, new Node[]{node}));
            }
        }
        return new Cluster("c", List.of(node), infos, Set.of(), Set.of());
    }

    /** One rebalance: every member reports what it owns; returns the new ownership. */
    private Map<String, List<TopicPartition>> round(Cluster cluster, Map<String, List<TopicPartition>> owned) {
        Map<String, Subscription> subs = new TreeMap<>();
        owned.forEach((m, parts) -> subs.put(m, new Subscription(TOPICS, null, parts, 1, Optional.empty())));
        Map<String, List<TopicPartition>> next = new TreeMap<>();
        assignor.assign(cluster, new GroupSubscription(subs)).groupAssignment()
                .forEach((m, a) -> next.put(m, a.partitions()));
        assertCooperative(owned, next);
        assertCoPartitioned(next);
        return next;
    }

    /** Rounds until nothing was revoked (the consumer only rejoins after a revocation). */
    private Map<String, List<TopicPartition>> settle(Cluster cluster, Map<String, List<TopicPartition>> owned) {
        Map<String, List<TopicPartition>> current = owned;
        for (int i = 0; i < 5; i++) {
            Map<String, List<TopicPartition>> next = round(cluster, current);
            boolean revoked = false;
            for (String m : current.keySet()) {
                if (!new HashSet<>(next.get(m)).containsAll(current.get(m))) {
                    revoked = true;
                }
            }
            current = next;
            if (!revoked) {
                return current;
            }
        }
        throw new AssertionError("assignment did not settle in 5 rounds: " + current);
    }

    /** No partition goes to a member while another member still owned it in the previous generation. */
    private static void assertCooperative(Map<String, List<TopicPartition>> before, Map<String, List<TopicPartition>> after) {
        Map<TopicPartition, String> previousOwner = new HashMap<>();
        before.forEach((m, parts) -> parts.forEach(tp -> previousOwner.put(tp, m)));
        Set<TopicPartition> seen = new HashSet<>();
        after.forEach((m, parts) -> parts.forEach(tp -> {
            assertThat(seen.add(tp)).as("%s assigned twice", tp).isTrue();
            String prev = previousOwner.get(tp);
            if (prev != null && after.containsKey(prev)) {
                assertThat(prev).as("%s moved from %s to %s in one round", tp, prev, m).isEqualTo(m);
            }
        }));
    }

    private static void assertCoPartitioned(Map<String, List<TopicPartition>> assignment) {
        assignment.forEach((m, parts) -> {
            Set<Integer> requests = new TreeSet<>();
            Set<Integer> events = new TreeSet<>();
            parts.forEach(tp -> (tp.topic().equals(REQUESTS) ? requests : events).add(tp.partition()));
            assertThat(requests).as("%s: turn-requests and call-events partitions", m).isEqualTo(events);
        });
    }

    private static Map<String, Set<Integer>> numbers(Map<String, List<TopicPartition>> assignment) {
        Map<String, Set<Integer>> out = new TreeMap<>();
        assignment.forEach((m, parts) -> {
            Set<Integer> ns = new TreeSet<>();
            parts.forEach(tp -> ns.add(tp.partition()));
            out.put(m, ns);
        });
        return out;
    }

    private static void assertComplete(Map<String, List<TopicPartition>> assignment, int partitions) {
        int total = assignment.values().stream().mapToInt(List::size).sum();
        assertThat(total).isEqualTo(partitions * TOPICS.size());
        int min = assignment.values().stream().mapToInt(List::size).min().orElse(0) / 2;
        int max = assignment.values().stream().mapToInt(List::size).max().orElse(0) / 2;
        assertThat(max - min).as("balance %s", numbers(assignment)).isLessThanOrEqualTo(1);
    }

    @Test
    void shouldGivePartitionIOfBothTopicsToOneMemberWhenAGroupForms() {
        // Given three new members and 6 partitions per topic
        Map<String, List<TopicPartition>> owned = new TreeMap<>(Map.of("a", List.of(), "b", List.of(), "c", List.of()));

        // When the group forms
        Map<String, List<TopicPartition>> result = settle(cluster(6), owned);

        // Then every partition number is held by one member, for both topics, two numbers each
        assertComplete(result, 6);
        assertThat(numbers(result).values()).allMatch(ns -> ns.size() == 2);
    }

    @Test
    void shouldMoveOnlyTheSurplusWhenAWorkerJoins() {
        // Given two members holding 0-2 and 3-5
        Cluster cluster = cluster(6);
        Map<String, List<TopicPartition>> owned = settle(cluster, new TreeMap<>(Map.of("a", List.of(), "b", List.of())));
        Map<String, Set<Integer>> before = numbers(owned);

        // When a third joins
        owned.put("c", List.of());
        Map<String, List<TopicPartition>> first = round(cluster, owned);
        Map<String, List<TopicPartition>> result = settle(cluster, first);

        // Then a and b each give up exactly one number, keep the rest, and c ends with the two given up
        Map<String, Set<Integer>> after = numbers(result);
        for (String m : List.of("a", "b")) {
            assertThat(before.get(m)).containsAll(after.get(m));
            assertThat(after.get(m)).hasSize(2);
        }
        assertThat(after.get("c")).hasSize(2);
        // and in the first round c got nothing still held by a or b (they revoke first)
        assertThat(first.get("c")).isEmpty();
        assertComplete(result, 6);
    }

    @Test
    void shouldGiveADeadMembersPartitionsToTheSurvivorsInOneRoundWhenItLeaves() {
        // Given three members
        Cluster cluster = cluster(6);
        Map<String, List<TopicPartition>> owned = settle(cluster,
                new TreeMap<>(Map.of("a", List.of(), "b", List.of(), "c", List.of())));
        Map<String, Set<Integer>> before = numbers(owned);

        // When b's session expires (it is simply absent from the next join)
        owned.remove("b");
        Map<String, List<TopicPartition>> result = round(cluster, owned);

        // Then a and c keep theirs and take b's numbers at once
        Map<String, Set<Integer>> after = numbers(result);
        assertThat(after.get("a")).containsAll(before.get("a"));
        assertThat(after.get("c")).containsAll(before.get("c"));
        assertComplete(result, 6);
    }

    @Test
    void shouldWithholdANumberClaimedByTwoMembersUntilBothReleaseIt() {
        // Given a stale member that still claims partition 1, which the other member now owns
        Cluster cluster = cluster(2);
        Map<String, List<TopicPartition>> owned = new TreeMap<>();
        owned.put("a", List.of(new TopicPartition(REQUESTS, 1), new TopicPartition(EVENTS, 1)));
        owned.put("b", List.of(new TopicPartition(REQUESTS, 1), new TopicPartition(EVENTS, 1)));

        // When they rebalance
        Map<String, List<TopicPartition>> first = round(cluster, owned);

        // Then nobody gets 1 in that round; after both have let go, the group settles complete
        assertThat(numbers(first).values()).noneMatch(ns -> ns.contains(1));
        assertComplete(settle(cluster, first), 2);
    }

    @Test
    void shouldLeaveMembersBeyondThePartitionCountIdleWhenTheGroupIsLargerThanTheTopics() {
        // Given 2 partitions and 3 members, two of which hold one each
        Cluster cluster = cluster(2);
        Map<String, List<TopicPartition>> owned = settle(cluster, new TreeMap<>(Map.of("a", List.of(), "b", List.of())));
        Map<String, Set<Integer>> before = numbers(owned);
        owned.put("c", List.of());

        // When the third joins
        Map<String, List<TopicPartition>> result = settle(cluster, owned);

        // Then nothing moves and the newcomer stays idle
        assertThat(numbers(result).get("a")).isEqualTo(before.get("a"));
        assertThat(numbers(result).get("b")).isEqualTo(before.get("b"));
        assertThat(result.get("c")).isEmpty();
    }
}
