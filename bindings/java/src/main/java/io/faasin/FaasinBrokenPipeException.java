package io.faasin;

/**
 * A write found the reader gone (closed its end, exited or was killed): the
 * EPIPE of a UNIX pipe. The message starts with "Broken pipe". FAASIN never
 * raises SIGPIPE.
 */
public class FaasinBrokenPipeException extends FaasinException {
    private static final long serialVersionUID = 1L;

    public FaasinBrokenPipeException(String message) {
        super(message);
    }
}
