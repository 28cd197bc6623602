package dev.omnicall.deploy;

/** A kustomization that cannot be rendered: the message names the file, the patch and the operation. */
final class KustomizeException extends RuntimeException {

    KustomizeException(String message) {
        super(message);
    }
}
