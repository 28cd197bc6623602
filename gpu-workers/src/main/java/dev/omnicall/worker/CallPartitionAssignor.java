package dev.omnicall.worker;

import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.TopicPartition;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Assigns <em>partition numbers</em>, not topic-partitions: a worker that gets number {@code p} gets partition
 * {@code p} of every topic it reads (turn-requests and call-events), so a call's BargeIn and CallEnded always
 * reach the worker running its turn. It is sticky and cooperative: a member keeps the numbers it holds up to its
 * fair share, only the surplus moves, and a number moves in two rebalances (its owner revokes it, then the
 * follow-up rebalance gives it to the new one). Scaling the workers up or down therefore restarts only the
 * turns of the partitions that actually move; the others keep generating.
 *
 * <p>Balance: with {@code N} numbers and {@code M} members every member ends with {@code N/M} or
 * {@code N/M + 1} numbers. Numbers are the partitions of the subscribed topics; a topic with fewer partitions
 * simply has no partition for the higher numbers (the worker's topics are created with one partition count).
 *
 * <p>A number claimed (owned in the previous generation) by anyone other than its target member is never handed
 * out in the same round, which is what the cooperative protocol requires; a number claimed by two members (a
 * member that came back from a stale generation) is withheld until both have let it go.
 */
public final class CallPartitionAssignor implements ConsumerPartitionAssignor {

    /** The name the group agrees on; every worker in a group must list it. */
    public static final String NAME = "omnicall-call-partitions";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<RebalanceProtocol> supportedProtocols() {
        return List.of(RebalanceProtocol.COOPERATIVE);
    }

    @Override
    public GroupAssignment assign(Cluster metadata, GroupSubscription groupSubscription) {
        Map<String, Subscription> subscriptions = new TreeMap<>(groupSubscription.groupSubscription());
        Set<String> topics = new TreeSet<>();
        subscriptions.values().forEach(s -> topics.addAll(s.topics()));
        Map<String, Integer> partitionCounts = new HashMap<>();
        int numbers = 0;
        for (String topic : topics) {
            Integer count = metadata.partitionCountForTopic(topic);
            if (count != null) {
                partitionCounts.put(topic, count);
                numbers = Math.max(numbers, count);
            }
        }
        Map<String, Set<Integer>> claimed = new TreeMap<>();
        Map<Integer, Set<String>> claimants = new HashMap<>();
        subscriptions.forEach((member, s) -> {
            Set<Integer> own = new TreeSet<>();
            for (TopicPartition tp : s.ownedPartitions()) {
                own.add(tp.partition());
                claimants.computeIfAbsent(tp.partition(), k -> new HashSet<>()).add(member);
            }
            claimed.put(member, own);
        });

        Map<String, Set<Integer>> target = plan(new ArrayList<>(subscriptions.keySet()), numbers, claimed, claimants);

        Map<String, Assignment> out = new HashMap<>();
        subscriptions.forEach((member, s) -> {
            List<TopicPartition> partitions = new ArrayList<>();
            for (int n : target.get(member)) {
                Set<String> holders = claimants.getOrDefault(n, Set.of());
                boolean heldElsewhere = holders.stream().anyMatch(h -> !h.equals(member));
                if (heldElsewhere) {
                    continue;   // its holder revokes it first; the follow-up rebalance hands it over
                }
                for (String topic : s.topics()) {
                    Integer count = partitionCounts.get(topic);
                    if (count != null && n < count) {
                        partitions.add(new TopicPartition(topic, n));
                    }
                }
            }
            out.put(member, new Assignment(partitions));
        });
        return new GroupAssignment(out);
    }

    /**
     * The target: which member should own each number. Members (in id order) keep the lowest numbers they claim
     * up to their quota; the rest go, lowest first, to the members below quota.
     */
    static Map<String, Set<Integer>> plan(List<String> members, int numbers, Map<String, Set<Integer>> claimed,
                                          Map<Integer, Set<String>> claimants) {
        Map<String, Set<Integer>> target = new TreeMap<>();
        members.forEach(m -> target.put(m, new TreeSet<>()));
        if (members.isEmpty() || numbers == 0) {
            return target;
        }
        int base = numbers / members.size();
        int extra = numbers % members.size();   // how many members may hold base + 1
        Set<Integer> taken = new HashSet<>();
        // keep what each member holds, up to base; a number claimed by two members is kept by neither
        for (String m : members) {
            for (int n : claimed.getOrDefault(m, Set.of())) {
                if (n >= numbers || target.get(m).size() >= base || claimants.get(n).size() > 1) {
                    continue;
                }
                target.get(m).add(n);
                taken.add(n);
            }
        }
        // members holding more than base keep one more while the extra slots last
        for (String m : members) {
            if (extra == 0) {
                break;
            }
            for (int n : claimed.getOrDefault(m, Set.of())) {
                if (n < numbers && !taken.contains(n) && claimants.get(n).size() == 1) {
                    target.get(m).add(n);
                    taken.add(n);
                    extra--;
                    break;
                }
            }
        }
        List<Integer> free = new ArrayList<>();
        for (int n = 0; n < numbers; n++) {
            if (!taken.contains(n)) {
                free.add(n);
            }
        }
        int next = 0;
        for (String m : members) {
            while (target.get(m).size() < base && next < free.size()) {
                target.get(m).add(free.get(next++));
            }
        }
        for (String m : members) {
            if (next >= free.size() || extra == 0) {
                break;
            }
            if (target.get(m).size() == base) {
                target.get(m).add(free.get(next++));
                extra--;
            }
        }
        return target;
    }
}
