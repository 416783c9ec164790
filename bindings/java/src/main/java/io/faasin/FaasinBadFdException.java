package io.faasin;

/**
 * An fd is not open, or is the wrong end of a FAASIN stream for what was
 * asked of it.
 */
public class FaasinBadFdException extends FaasinException {
    private static final long serialVersionUID = 1L;

    public FaasinBadFdException(String message) {
        super(message);
    }
}
