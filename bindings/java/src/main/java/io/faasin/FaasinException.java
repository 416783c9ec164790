package io.faasin;

import java.io.IOException;

/** An I/O error of a FAASIN stream; the subclasses name the common cases. */
public class FaasinException extends IOException {
    private static final long serialVersionUID = 1L;

    public FaasinException(String message) {
        super(message);
    }
}
