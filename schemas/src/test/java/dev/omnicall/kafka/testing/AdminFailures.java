package dev.omnicall.kafka.testing;

import dev.omnicall.kafka.KafkaSettings;
import org.apache.kafka.clients.admin.Admin;

import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/** Why a client with given settings cannot talk to a broker (a wrong password, a CA it does not trust). */
public final class AdminFailures {

    private AdminFailures() {
    }

    /**
     * The cause of the failure of a describe-cluster call made with {@code settings} (timeouts cut to 15 s so an
     * endless retry shows up as a timeout); an {@link AssertionError} if the call succeeds.
     */
    public static Throwable ofDescribeCluster(KafkaSettings settings) {
        Map<String, Object> props = settings.admin();
        props.put("default.api.timeout.ms", 15_000);
        props.put("request.timeout.ms", 10_000);
        try (Admin admin = Admin.create(props)) {
            admin.describeCluster().nodes().get(20, TimeUnit.SECONDS);
            throw new AssertionError("the admin call succeeded with " + settings);
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (Exception e) {
            return e;
        }
    }
}
