package dev.omnicall.bridge.kafka;

import org.apache.kafka.common.utils.Utils;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Supplier;

/**
 * Routes a call's reply audio to the bridge that holds the call, without read amplification.
 *
 * <p>Bridge {@code index} of {@code count} owns the partitions p with {@code p % count == index}. It
 * names each new call with a random UUID chosen so that the Kafka default partitioner (murmur2 of the
 * UTF-8 key, modulo the partition count) puts it in an owned partition. Every topic is keyed by call ID
 * and has the same partition count, so the worker's AudioChunks for the call land in that partition of
 * response-audio, which only this bridge reads (by {@code assign}, no consumer group).
 * With 10 bridges a call ID takes ~10 UUID draws (a few microseconds).
 */
public final class PartitionAffinity {

    private final int index;
    private final int count;
    private final int partitions;
    private final List<Integer> owned;
    private final Supplier<UUID> uuids;

    public PartitionAffinity(int index, int count, int partitions, Supplier<UUID> uuids) {
        if (count < 1 || index < 0 || index >= count) {
            throw new IllegalArgumentException("bridge index must be in 0.." + (count - 1) + ", got " + index
                    + " of " + count);
        }
        if (partitions < count) {
            throw new IllegalArgumentException("response-audio has " + partitions + " partitions but there are "
                    + count + " bridges: each bridge needs at least one partition");
        }
        this.index = index;
        this.count = count;
        this.partitions = partitions;
        this.uuids = uuids;
        List<Integer> mine = new ArrayList<>();
        for (int p = index; p < partitions; p += count) {
            mine.add(p);
        }
        this.owned = List.copyOf(mine);
    }

    public PartitionAffinity(int index, int count, int partitions) {
        this(index, count, partitions, UUID::randomUUID);
    }

    public List<Integer> ownedPartitions() {
        return owned;
    }

    public int partitions() {
        return partitions;
    }

    /** The partition the default producer partitioner picks for this call ID on any call-keyed topic. */
    public int partitionOf(String callId) {
        byte[] key = callId.getBytes(StandardCharsets.UTF_8);
        return Utils.toPositive(Utils.murmur2(key)) % partitions;
    }

    public boolean owns(String callId) {
        return partitionOf(callId) % count == index;
    }

    /** A fresh call ID that hashes to one of this bridge's partitions. */
    public String newCallId() {
        while (true) {
            String id = uuids.get().toString();
            if (owns(id)) {
                return id;
            }
        }
    }
}
