package com.example;

import java.io.*;
import java.util.*;

/** Application classes of the kind a session holds. */
public class User implements Serializable {
    private static final long serialVersionUID = 1L;
    public String name;
    public long id;
    public int age;
    public boolean admin;
    public double score;
    public List<String> roles = new ArrayList<>();
    public Role role = Role.ADMIN;
    public User manager;

    public enum Role { USER, ADMIN }

    public User(String name, long id) { this.name = name; this.id = id; this.age = 42; this.score = 1.5; }

    /** writeObject with extra data, like many JDK and framework classes. */
    public static class Custom implements Serializable {
        private static final long serialVersionUID = 2L;
        public transient String secret = "s";
        public int version = 7;
        private void writeObject(ObjectOutputStream out) throws IOException {
            out.defaultWriteObject();
            out.writeInt(12345);
            out.writeObject("extra");
        }
    }

    /** Externalizable (protocol 2 writes it as block data). */
    public static class Ext implements Externalizable {
        private static final long serialVersionUID = 3L;
        public Ext() {}
        public void writeExternal(ObjectOutput out) throws IOException { out.writeUTF("ext"); out.writeInt(9); }
        public void readExternal(ObjectInput in) throws IOException { in.readUTF(); in.readInt(); }
    }

    /** A serializable invocation handler, to make a dynamic proxy (TC_PROXYCLASSDESC). */
    public static class Handler implements java.lang.reflect.InvocationHandler, Serializable {
        private static final long serialVersionUID = 4L;
        public Object invoke(Object p, java.lang.reflect.Method m, Object[] a) { return null; }
    }
}
