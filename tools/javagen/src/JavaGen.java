import com.example.User;
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;

/**
 * Writes Java-serialized vectors, exactly as Spring Session's JdkSerializationRedisSerializer
 * does (one ObjectOutputStream.writeObject per value), plus a manifest.json describing each.
 * Usage: java -cp build JavaGen OUTDIR
 */
public class JavaGen {
    static final StringBuilder manifest = new StringBuilder("[\n");
    static boolean first = true;
    static Path out;

    static byte[] ser(Object o) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (ObjectOutputStream s = new ObjectOutputStream(b)) { s.writeObject(o); }
        return b.toByteArray();
    }

    static String q(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') sb.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) sb.append(String.format("\\u%04x", (int) c));
            else sb.append(c);
        }
        return sb.append('"').toString();
    }

    /** kind: ok or hostile; type: the top-level class; expect: JSON of the expected value or null. */
    static void vec(String name, String kind, Object o, String type, String expect) throws IOException {
        byte[] data = o instanceof byte[] && kind.equals("raw") ? (byte[]) o : ser(o);
        Files.write(out.resolve(name + ".ser"), data);
        if (!first) manifest.append(",\n");
        first = false;
        manifest.append("  {\"name\": ").append(q(name)).append(", \"file\": ").append(q(name + ".ser"))
                .append(", \"kind\": ").append(q(kind.equals("raw") ? "ok" : kind))
                .append(", \"type\": ").append(type == null ? "null" : q(type))
                .append(", \"size\": ").append(data.length)
                .append(", \"expect\": ").append(expect == null ? "null" : expect).append("}");
    }

    public static void main(String[] args) throws Exception {
        out = Paths.get(args[0]);
        Files.createDirectories(out);
        // What Spring Session writes for every session.
        vec("long_creation_time", "ok", Long.valueOf(1404360000000L), "java.lang.Long", "1404360000000");
        vec("long_zero", "ok", Long.valueOf(0L), "java.lang.Long", "0");
        vec("long_negative", "ok", Long.valueOf(-1L), "java.lang.Long", "-1");
        vec("integer_1800", "ok", Integer.valueOf(1800), "java.lang.Integer", "1800");
        vec("integer_negative", "ok", Integer.valueOf(-1), "java.lang.Integer", "-1");
        vec("string_principal", "ok", "alice", "java.lang.String", "\"alice\"");
        vec("string_session_id", "ok", "0b8a0e5e-2d4e-4f5b-9a3c-6f1d2e3c4b5a", "java.lang.String",
            "\"0b8a0e5e-2d4e-4f5b-9a3c-6f1d2e3c4b5a\"");
        vec("string_expires_member", "ok", "expires:0b8a0e5e-2d4e-4f5b-9a3c-6f1d2e3c4b5a",
            "java.lang.String", "\"expires:0b8a0e5e-2d4e-4f5b-9a3c-6f1d2e3c4b5a\"");
        vec("string_empty", "ok", "", "java.lang.String", "\"\"");
        vec("string_unicode", "ok", "h\u00e9llo \u4e16\u754c \ud83d\ude00 nul\u0000", "java.lang.String",
            q("h\u00e9llo \u4e16\u754c \ud83d\ude00 nul\u0000"));
        vec("boolean_true", "ok", Boolean.TRUE, "java.lang.Boolean", "true");
        vec("double_pi", "ok", Double.valueOf(3.141592653589793), "java.lang.Double", "3.141592653589793");
        vec("short_7", "ok", Short.valueOf((short) 7), "java.lang.Short", "7");
        vec("char_x", "ok", Character.valueOf('x'), "java.lang.Character", "\"x\"");
        List<String> roles = new ArrayList<>(List.of("ROLE_USER", "ROLE_ADMIN"));
        vec("arraylist_strings", "ok", roles, "java.util.ArrayList", "[\"ROLE_USER\", \"ROLE_ADMIN\"]");
        vec("arraylist_empty", "ok", new ArrayList<>(), "java.util.ArrayList", "[]");
        LinkedList<Object> mixed = new LinkedList<>(List.of(1L, "two", 3));
        vec("linkedlist_mixed", "ok", mixed, "java.util.LinkedList", "[1, \"two\", 3]");
        Map<String, Object> hm = new HashMap<>();
        hm.put("uid", 42L);
        vec("hashmap_uid", "ok", hm, "java.util.HashMap", "{\"uid\": 42}");
        Map<String, Object> lhm = new LinkedHashMap<>();
        lhm.put("a", "x"); lhm.put("b", 2); lhm.put("c", List.of("z"));
        vec("linkedhashmap", "ok", lhm, "java.util.LinkedHashMap", null);
        TreeMap<Integer, String> tm = new TreeMap<>(Map.of(1, "one", 2, "two"));
        vec("treemap_int_keys", "ok", tm, "java.util.TreeMap", null);
        vec("hashset", "ok", new HashSet<>(List.of("only")), "java.util.HashSet", "[\"only\"]");
        vec("unmodifiable_map", "ok", Collections.unmodifiableMap(new HashMap<>(Map.of("k", "v"))),
            "java.util.Collections$UnmodifiableMap", null);
        vec("date", "ok", new Date(1404360000000L), "java.util.Date", "\"2014-07-03T04:00:00Z\"");
        vec("int_array", "ok", new int[] {1, 2, 3}, "[I", "[1, 2, 3]");
        vec("byte_array", "ok", "hi".getBytes(StandardCharsets.UTF_8), "[B", "\"aGk=\"");
        vec("string_array", "ok", new String[] {"a", null, "a"}, "[Ljava.lang.String;", null);
        vec("enum_role", "ok", User.Role.ADMIN, "com.example.User$Role", "\"ADMIN\"");
        User u = new User("alice", 7L);
        u.roles.add("ROLE_USER");
        u.manager = new User("bob", 8L);
        u.manager.manager = u; // a cycle: TC_REFERENCE back to the outer object
        vec("user_object", "ok", u, "com.example.User", null);
        vec("custom_write_object", "ok", new User.Custom(), "com.example.User$Custom", null);
        vec("externalizable", "ok", new User.Ext(), "com.example.User$Ext", null);
        Object deep = new ArrayList<>();
        for (int i = 0; i < 130; i++) { List<Object> l = new ArrayList<>(); l.add(deep); deep = l; }
        vec("nested_130", "ok", deep, "java.util.ArrayList", null);
        Object deeper = new ArrayList<>();
        for (int i = 0; i < 1000; i++) { List<Object> l = new ArrayList<>(); l.add(deeper); deeper = l; }
        vec("nested_1000", "hostile", deeper, "java.util.ArrayList", null);
        // Gadget-like: a class named like commons-collections' InvokerTransformer, and a proxy.
        vec("gadget_invoker_transformer", "hostile",
            new org.apache.commons.collections.functors.InvokerTransformer(),
            "org.apache.commons.collections.functors.InvokerTransformer", null);
        Object proxy = java.lang.reflect.Proxy.newProxyInstance(JavaGen.class.getClassLoader(),
            new Class<?>[] {Runnable.class, Serializable.class}, new User.Handler());
        vec("dynamic_proxy", "hostile", proxy, null, null);
        // Spring Session JSON alternative is not Java serialization; see tests for JSON.
        Files.write(out.resolve("manifest.json"), (manifest + "\n]\n").getBytes(StandardCharsets.UTF_8));
    }
}
