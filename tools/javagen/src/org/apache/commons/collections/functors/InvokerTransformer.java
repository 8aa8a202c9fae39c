package org.apache.commons.collections.functors;

/** A harmless class that only borrows the name of the commons-collections gadget. */
public class InvokerTransformer implements java.io.Serializable {
    private static final long serialVersionUID = -8653385846894047688L;
    public String iMethodName = "exec";
    public Object[] iArgs = new Object[] {"touch /tmp/pwned"};
}
