package io.faasin;

/**
 * The peer left the shared ring or the endpoint in a state no correct peer
 * produces (a position out of range, a malformed hello). Nothing outside the
 * mapping was read or written; the stream cannot be used any further.
 */
public class FaasinCorruptedRingException extends FaasinException {
    private static final long serialVersionUID = 1L;

    public FaasinCorruptedRingException(String message) {
        super(message);
    }
}
