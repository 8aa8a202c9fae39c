// Command gobgen writes gob test vectors exactly as beego v1.12.3 stores sessions, together with
// the decoded form a correct decoder must produce, computed here in Go by reflection.
//
//	go run tools/gobgen/main.go -out fixtures/gob
//
// Each case is one session map[interface{}]interface{}, encoded like beego's
// session.EncodeGob: gob.Register every value, then one Encoder.Encode of the map. The expected
// entries use sessdiag's typed-JSON shape ({"type": T, "value": V}, see
// sessdiag/codecs/gob.py). Where gob cannot carry a detail (int vs int64 inside a struct,
// float32 vs float64, a nil pointer vs a zero value) the expectation states what the wire
// carries, not what the Go program had; each such rule is commented at the spot.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// ---- types a beego app might keep in its session --------------------------------------------

type Address struct {
	Street string
	City   string
	Zip    string
}

type User struct {
	ID      int64
	Name    string
	Email   string
	Age     int
	Score   float32
	Active  bool
	Tags    []string
	Addr    Address
	Home    *Address
	Manager *User
	Created time.Time
	Meta    map[string]string
	Counts  map[int]int
	Extra   interface{}
	Friends []Address
	Fixed   [2]int8
	Ratio   *float64
	Geo     struct{ Lat, Lng float64 }
	secret  string // unexported: gob never sends it
}

type Base struct {
	CreatedBy string
	Version   int
}

type Page struct {
	N    int
	Body string
}

type Doc struct {
	Base  // embedded: gob sends it as a field named "Base"
	Title string
	Pages []Page
}

type Empty struct{}

type Node struct {
	Val  int
	Next *Node
}

// Profile is only ever registered as a pointer, so gob names it "*main.Profile".
type Profile struct {
	Nick  string
	Level uint16
}

type Role string

type Celsius float32

type Matrix [2][2]int

// IPv4 travels as a BinaryMarshaler (wireType.BinaryMarshalerT).
type IPv4 [4]byte

func (ip IPv4) MarshalBinary() ([]byte, error) { return ip[:], nil }
func (ip *IPv4) UnmarshalBinary(b []byte) error {
	if len(b) != 4 {
		return fmt.Errorf("IPv4: want 4 bytes, got %d", len(b))
	}
	copy(ip[:], b)
	return nil
}

// Secret travels as a GobEncoder (wireType.GobEncoderT) with an opaque payload.
type Secret struct{ v string }

func (s Secret) GobEncode() ([]byte, error) { return []byte("enc:" + s.v), nil }
func (s *Secret) GobDecode(b []byte) error {
	s.v = strings.TrimPrefix(string(b), "enc:")
	return nil
}

type Device struct {
	Label  string
	IP     IPv4
	Token  Secret
	Seen   []time.Time
	Rooms  map[string]time.Time
	Labels []Role
}

// ---- cases -----------------------------------------------------------------------------------

type sessionCase struct {
	name string
	desc string
	sess map[interface{}]interface{}
}

func one(name, desc, key string, v interface{}) sessionCase {
	return sessionCase{name, desc, map[interface{}]interface{}{key: v}}
}

func ptrF(f float64) *float64 { return &f }

func cases() []sessionCase {
	plus8 := time.FixedZone("CST", 8*3600)
	minus330 := time.FixedZone("NST", -(3*3600 + 30*60))
	oddPlus := time.FixedZone("LMT", 3600+1800+17)
	oddMinus := time.FixedZone("LMT2", -(3600 + 30))
	base := time.Date(2024, 3, 15, 12, 34, 56, 123456789, time.UTC)

	deep := interface{}("leaf")
	for i := 0; i < 130; i++ {
		deep = []interface{}{deep}
	}

	large := make([]byte, 100*1024+7)
	for i := range large {
		large[i] = byte(i*31 + i/251)
	}
	largeInts := make([]int64, 12000)
	for i := range largeInts {
		largeInts[i] = int64(i*i) - 5_000_000
	}

	alice := User{
		ID: 1001, Name: "Alice", Email: "alice@example.com", Age: 30, Score: 9.25, Active: true,
		Tags:    []string{"admin", "dev"},
		Addr:    Address{"1 Main St", "Springfield", "12345"},
		Home:    &Address{City: "Shelbyville"},
		Created: time.Date(2023, 11, 2, 8, 0, 0, 500, plus8),
		Meta:    map[string]string{"theme": "dark", "lang": "zh-CN"},
		Counts:  map[int]int{1: 10, -2: 20},
		Extra:   map[string]interface{}{"k": []interface{}{1, "two", 3.5}},
		Friends: []Address{{Street: "2 Elm"}, {City: "Ogdenville", Zip: "0"}},
		Fixed:   [2]int8{-128, 127},
		Ratio:   ptrF(0.75),
		Geo:     struct{ Lat, Lng float64 }{31.23, 121.47},
		secret:  "never on the wire",
	}
	bob := User{ID: 2, Name: "Bob", Manager: &User{ID: 1, Name: "Boss"}}

	return []sessionCase{
		// basic types, one key each
		one("int", "int", "v", 42),
		one("int_negative", "negative int", "v", -123456),
		one("int8_min", "int8 minimum", "v", int8(-128)),
		one("int16_max", "int16 maximum", "v", int16(32767)),
		one("int32_min", "int32 minimum", "v", int32(-2147483648)),
		one("int64_max", "int64 maximum", "v", int64(math.MaxInt64)),
		one("int64_min", "int64 minimum", "v", int64(math.MinInt64)),
		one("uint_zero", "uint zero", "v", uint(0)),
		one("uint8_max", "uint8 maximum", "v", uint8(255)),
		one("uint16", "uint16", "v", uint16(65535)),
		one("uint32_max", "uint32 maximum", "v", uint32(math.MaxUint32)),
		one("uint64_max", "uint64 maximum", "v", uint64(math.MaxUint64)),
		one("float64_pi", "float64", "v", math.Pi),
		one("float64_nan", "NaN", "v", math.NaN()),
		one("float64_posinf", "+Inf", "v", math.Inf(1)),
		one("float64_neginf", "-Inf", "v", math.Inf(-1)),
		one("float64_negzero", "negative zero (sign must survive)", "v", math.Copysign(0, -1)),
		one("float64_max", "largest float64", "v", math.MaxFloat64),
		one("float64_subnormal", "smallest subnormal", "v", math.SmallestNonzeroFloat64),
		one("float64_tiny", "1e-300", "v", 1e-300),
		one("float32", "float32 0.1 (sent as its float64 value)", "v", float32(0.1)),
		one("float32_max", "largest float32", "v", float32(math.MaxFloat32)),
		one("complex128", "complex128", "v", complex(1.5, -2.25)),
		one("complex64", "complex64", "v", complex64(complex(3, 4))),
		one("bool_true", "true", "v", true),
		one("bool_false", "false", "v", false),
		one("string_empty", "empty string", "v", ""),
		one("string_ascii", "plain string", "username", "built-in/admin"),
		one("string_cjk", "CJK string", "v", "审计员 管理员"),
		one("string_emoji", "emoji with ZWJ sequence", "v", "😀👍🏽 👨‍👩‍👧"),
		one("string_nul", "string with NUL and control bytes", "v", "a\x00b\x01\n\t"),
		one("string_invalid_utf8", "bytes that are not UTF-8", "v", "ok\xff\xfe\xc3("),
		one("bytes", "[]byte", "raw", []byte{0, 1, 2, 0xfe, 0xff, 'h', 'i'}),
		one("bytes_empty", "empty []byte", "raw", []byte{}),
		one("bytes_large", "a []byte over 100 KiB", "blob", large),
		one("string_large", "a string over 100 KiB", "blob",
			strings.Repeat("beego-session-large-value-0123456789abcdef/", 2600)),
		one("int64_slice_large", "12000 int64 values", "nums", largeInts),
		// time.Time (GobEncoder)
		one("time_utc", "UTC with nanoseconds", "at", base),
		one("time_utc_millis", "UTC with milliseconds", "at", time.Date(2024, 3, 15, 12, 34, 56, 789000000, time.UTC)),
		one("time_plus8", "fixed zone +08:00", "at", base.In(plus8)),
		one("time_minus0330", "fixed zone -03:30", "at", base.In(minus330)),
		one("time_odd_plus", "zone offset with seconds (MarshalBinary v2)", "at", base.In(oddPlus)),
		one("time_odd_minus", "negative zone offset with seconds (v2)", "at", base.In(oddMinus)),
		one("time_zero", "zero time.Time", "at", time.Time{}),
		one("time_year1", "first second of year 1", "at", time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)),
		one("time_pre_epoch", "before 1970", "at", time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC)),
		one("time_year9999", "end of year 9999", "at", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)),
		one("time_year12345", "year beyond 9999", "at", time.Date(12345, 6, 7, 8, 9, 10, 0, time.UTC)),
		one("time_leapday", "29 February", "at", time.Date(2000, 2, 29, 0, 0, 0, 1, plus8)),
		// slices and arrays
		one("slice_string", "[]string", "roles", []string{"admin", "user", "审计员"}),
		one("slice_string_empty", "empty []string", "roles", []string{}),
		one("slice_string_nil", "nil []string", "roles", []string(nil)),
		one("slice_string_invalid", "[]string with a non-UTF-8 element", "v", []string{"ok", "\xc3("}),
		one("slice_int", "[]int", "v", []int{1, -2, 3, 0}),
		one("slice_int8", "[]int8", "v", []int8{-128, 0, 127}),
		one("slice_uint16", "[]uint16", "v", []uint16{0, 65535}),
		one("slice_uint64", "[]uint64", "v", []uint64{math.MaxUint64, 1}),
		one("slice_float64", "[]float64 with specials", "v",
			[]float64{1.5, math.Inf(1), math.Inf(-1), math.NaN(), 0}),
		one("slice_float32", "[]float32", "v", []float32{0.1, -2}),
		one("slice_bool", "[]bool", "v", []bool{true, false, true}),
		one("slice_complex128", "[]complex128", "v", []complex128{complex(1, 2)}),
		one("slice_bytes", "[][]byte", "v", [][]byte{{1, 2}, {}, []byte("xyz")}),
		one("slice_slice_string", "[][]string", "v", [][]string{{"a"}, {}, {"b", "c"}}),
		one("slice_time", "[]time.Time", "v", []time.Time{base, base.In(plus8)}),
		one("slice_user", "[]User", "users", []User{bob, {Name: "Carol"}}),
		one("slice_role", "[]main.Role (named string elements)", "v", []Role{"owner", "guest"}),
		one("array_int", "[3]int", "v", [3]int{7, 8, 9}),
		one("array_string", "[2]string", "v", [2]string{"x", ""}),
		one("array_uint8", "[4]uint8 (sent element-wise, unlike []byte)", "v", [4]uint8{1, 2, 3, 255}),
		one("array_empty", "[0]int", "v", [0]int{}),
		one("array_matrix", "main.Matrix = [2][2]int", "v", Matrix{{1, 2}, {3, 4}}),
		// interface slices and maps
		one("iface_slice", "[]interface{} mixed", "list",
			[]interface{}{"x", 1, 2.5, true, nil, int64(-9), []byte("b"), base}),
		one("iface_slice_nested", "[]interface{} nested with maps", "list",
			[]interface{}{[]interface{}{1, []interface{}{"deep"}}, map[string]interface{}{"a": nil}}),
		one("deep_130", "[]interface{} nested 130 levels", "deep", deep),
		one("map_string_iface", "map[string]interface{}", "profile", map[string]interface{}{
			"name": "alice", "age": 30, "active": true, "score": 9.5, "tags": []string{"a", "b"},
		}),
		one("map_string_iface_nested", "map[string]interface{} nested 4 levels", "cfg", map[string]interface{}{
			"l1": map[string]interface{}{
				"l2": map[string]interface{}{
					"l3":   map[string]interface{}{"leaf": "v", "n": int64(3), "when": base.In(minus330)},
					"list": []interface{}{map[string]interface{}{"x": 1.25}},
				},
			},
			"top": "t",
		}),
		one("map_string_iface_empty", "empty map[string]interface{}", "v", map[string]interface{}{}),
		one("map_string_string", "map[string]string", "m", map[string]string{"k1": "v1", "k2": "v2"}),
		one("map_string_string_invalid_key", "map[string]string with a non-UTF-8 key", "m",
			map[string]string{"\xffbad": "v", "good": "w"}),
		one("map_int_string", "map[int]string", "m", map[int]string{1: "one", -7: "minus seven"}),
		one("map_int_int", "map[int]int", "m", map[int]int{1: 1, 2: 4, 3: 9}),
		one("map_int_int64", "map[int]int64", "m", map[int]int64{5: math.MinInt64}),
		one("map_int_iface", "map[int]interface{}", "m", map[int]interface{}{0: "zero", 1: []string{"x"}}),
		one("map_iface_iface", "map[interface{}]interface{} inside the session", "m",
			map[interface{}]interface{}{"s": 1, 2: "two", int64(3): 3.5}),
		one("map_string_slice", "map[string][]string", "m", map[string][]string{"a": {"1", "2"}, "b": nil}),
		one("map_string_user", "map[string]User", "m", map[string]User{"b": bob}),
		one("map_string_time", "map[string]time.Time", "m", map[string]time.Time{"t": base}),
		// registered structs
		one("struct_user", "struct with every kind of field", "user", alice),
		one("struct_user_sparse", "struct with zero fields omitted on the wire", "user", User{Name: "Zed"}),
		one("struct_pointer_field", "struct with a non-nil pointer to the same type", "user", bob),
		one("struct_embedded", "embedded struct and slice of structs", "doc",
			Doc{Base: Base{CreatedBy: "root", Version: 3}, Title: "T", Pages: []Page{{1, "a"}, {2, ""}}}),
		one("struct_empty", "empty struct", "v", Empty{}),
		one("struct_linked", "recursive type, 3 nodes", "list", Node{1, &Node{2, &Node{3, nil}}}),
		one("struct_pointer_registered", "value registered as a pointer", "p", &Profile{"neo", 7}),
		one("struct_marshalers", "BinaryMarshaler and GobEncoder fields", "dev", Device{
			Label: "cam", IP: IPv4{10, 0, 0, 1}, Token: Secret{"s3cr3t"},
			Seen:   []time.Time{base},
			Rooms:  map[string]time.Time{"hall": base.In(plus8)},
			Labels: []Role{"a"},
		}),
		one("binary_marshaler", "BinaryMarshaler value in the interface", "ip", IPv4{192, 168, 1, 2}),
		one("gob_encoder", "GobEncoder value in the interface", "tok", Secret{"xyz"}),
		one("named_string", "named string type", "role", Role("admin")),
		one("named_float", "named float32 type", "temp", Celsius(-40.5)),
		// keys
		{"key_int", "int key", map[interface{}]interface{}{7: "seven"}},
		{"key_int64", "int64 key", map[interface{}]interface{}{int64(-9000000000): "big"}},
		{"key_uint8", "uint8 key", map[interface{}]interface{}{uint8(200): true}},
		{"key_float64", "float64 key", map[interface{}]interface{}{2.5: "half"}},
		{"key_invalid_utf8", "string key that is not UTF-8", map[interface{}]interface{}{"\xfek": 1}},
		{"mixed_keys", "string, int, int64, bool keys", map[interface{}]interface{}{
			"s": "str", 1: "int", int64(2): "int64", true: "bool",
		}},
		// multi-key sessions (entries compared as a set)
		{"casdoor_login", "typical login session", map[interface{}]interface{}{
			"username":    "built-in/admin",
			"SessionData": `{"ExpireTime":1712345678}`,
			"accessToken": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.e30.sig",
			"loginAt":     base,
			"uid":         int64(1001),
			"roles":       []string{"admin"},
		}},
		{"multi_types", "one session mixing types that need type definitions", map[interface{}]interface{}{
			"user":  alice,
			"doc":   Doc{Title: "x"},
			"when":  base.In(oddPlus),
			"tags":  map[string]string{"a": "b"},
			"ip":    IPv4{1, 2, 3, 4},
			"list":  []interface{}{bob, Empty{}},
			"count": 3,
		}},
	}
}

// ---- encoding exactly like beego -----------------------------------------------------------

func init() {
	// What beego's session package registers in its init().
	gob.Register([]interface{}{})
	gob.Register(map[int]interface{}{})
	gob.Register(map[string]interface{}{})
	gob.Register(map[interface{}]interface{}{})
	gob.Register(map[string]string{})
	gob.Register(map[int]string{})
	gob.Register(map[int]int{})
	gob.Register(map[int]int64{})
	// Types that only appear nested inside interfaces: an app registers them itself.
	gob.Register(User{})
	gob.Register(Empty{})
	gob.Register(time.Time{})
}

// warmTypeNames encodes each struct once at top level. gob caches type descriptions per
// process and names a struct after the context that first builds it; a struct first met as a
// map or array element gets an empty CommonType.Name. Real apps usually meet them at top level
// or as a field first; warming makes the wire names deterministic across runs.
func warmTypeNames() {
	for _, v := range []interface{}{
		Address{}, User{}, Base{}, Page{}, Doc{}, Empty{}, Node{}, Profile{}, Device{},
		time.Time{}, IPv4{}, Secret{},
	} {
		if err := gob.NewEncoder(io.Discard).Encode(v); err != nil {
			panic(err)
		}
	}
}

// encodeGob is beego v1.12.3 session.EncodeGob.
func encodeGob(obj map[interface{}]interface{}) ([]byte, error) {
	for _, v := range obj {
		gob.Register(v)
	}
	buf := bytes.NewBuffer(nil)
	err := gob.NewEncoder(buf).Encode(obj)
	if err != nil {
		return []byte(""), err
	}
	return buf.Bytes(), nil
}

// decodeGob is beego v1.12.3 session.DecodeGob.
func decodeGob(encoded []byte) (map[interface{}]interface{}, error) {
	buf := bytes.NewBuffer(encoded)
	dec := gob.NewDecoder(buf)
	var out map[interface{}]interface{}
	err := dec.Decode(&out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ---- the expected, typed form --------------------------------------------------------------

type J = map[string]interface{}

var (
	timeType       = reflect.TypeOf(time.Time{})
	gobEncoderType = reflect.TypeOf((*gob.GobEncoder)(nil)).Elem()
	binMarshalType = reflect.TypeOf((*interface{ MarshalBinary() ([]byte, error) })(nil)).Elem()
)

func isOpaque(t reflect.Type) bool {
	return t.Implements(gobEncoderType) || t.Implements(binMarshalType)
}

// regName is the name gob.Register gives a type (encoding/gob/type.go, Register).
func regName(rt reflect.Type) string {
	name := rt.String()
	star := ""
	if rt.Name() == "" {
		if pt := rt; pt.Kind() == reflect.Pointer {
			star = "*"
			rt = pt // sic: gob does not dereference here either
		}
	}
	if rt.Name() != "" {
		if rt.PkgPath() == "" {
			name = star + rt.Name()
		} else {
			name = star + rt.PkgPath() + "." + rt.Name()
		}
	}
	return name
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// staticName is the name a decoder can know for a value whose type is fixed by its container.
// gob sends all signed integers as "int", all unsigned as "uint" and all floats as float64,
// so widths collapse to int64/uint64/float64; structs carry their own name.
func staticName(t reflect.Type) string {
	t = deref(t)
	if t == timeType {
		return "time.Time"
	}
	if isOpaque(t) {
		return t.Name()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int64"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "uint64"
	case reflect.Float32, reflect.Float64:
		return "float64"
	case reflect.Complex64, reflect.Complex128:
		return "complex128"
	case reflect.String:
		return "string"
	case reflect.Interface:
		return "interface {}"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "[]uint8"
		}
		return "[]" + staticName(t.Elem())
	case reflect.Array:
		return fmt.Sprintf("[%d]%s", t.Len(), staticName(t.Elem()))
	case reflect.Map:
		return "map[" + staticName(t.Key()) + "]" + staticName(t.Elem())
	case reflect.Struct:
		if t.Name() != "" {
			return t.Name()
		}
		return t.String()
	}
	panic("gobgen: no static name for " + t.String())
}

func isPlain(t reflect.Type) bool {
	t = deref(t)
	if isOpaque(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	}
	return false
}

func jsonFloat(f float64) interface{} {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func wrap(name string, v reflect.Value) J {
	if v.Kind() == reflect.String && !isOpaque(v.Type()) && !utf8.ValidString(v.String()) {
		return J{"type": name, "value": b64([]byte(v.String())), "invalid_utf8": true}
	}
	return J{"type": name, "value": plain(v)}
}

// ifaceTyped is a value held in an interface: typed with its registered name.
func ifaceTyped(x interface{}) J {
	if x == nil {
		return J{"type": "nil", "value": nil}
	}
	v := reflect.ValueOf(x)
	name := regName(v.Type())
	for v.Kind() == reflect.Pointer { // gob flattens pointers
		v = v.Elem()
	}
	return wrap(name, v)
}

// staticTyped is a value whose type is fixed by its container (field, element, key).
func staticTyped(v reflect.Value) J {
	t := v.Type()
	if t.Kind() == reflect.Interface {
		if v.IsNil() {
			return J{"type": "nil", "value": nil}
		}
		return ifaceTyped(v.Interface())
	}
	if t.Kind() == reflect.Pointer {
		if !v.IsNil() {
			return staticTyped(v.Elem())
		}
		// gob omits nil pointers. Structs and arrays are otherwise always sent, so their
		// absence reads as nil; anything else reads as the element's zero value.
		et := deref(t)
		if et != timeType && !isOpaque(et) && (et.Kind() == reflect.Struct || et.Kind() == reflect.Array) {
			return J{"type": staticName(et), "value": nil}
		}
		return staticTyped(reflect.Zero(et))
	}
	return wrap(staticName(t), v)
}

func plain(v reflect.Value) interface{} {
	t := v.Type()
	if t == timeType {
		return v.Interface().(time.Time).Format(time.RFC3339Nano)
	}
	if t.Implements(gobEncoderType) {
		b, err := v.Interface().(gob.GobEncoder).GobEncode()
		if err != nil {
			panic(err)
		}
		return b64(b)
	}
	if t.Implements(binMarshalType) {
		b, err := v.Interface().(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
		if err != nil {
			panic(err)
		}
		return b64(b)
	}
	switch t.Kind() {
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return jsonFloat(v.Float())
	case reflect.Complex64, reflect.Complex128:
		c := v.Complex()
		return []interface{}{jsonFloat(real(c)), jsonFloat(imag(c))}
	case reflect.String:
		return v.String()
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return b64(v.Bytes())
		}
		out := make([]interface{}, 0, v.Len())
		for i := 0; i < v.Len(); i++ {
			e := v.Index(i)
			switch {
			case isPlain(t.Elem()) && e.Kind() == reflect.String && !utf8.ValidString(e.String()):
				out = append(out, wrap("string", e))
			case isPlain(t.Elem()):
				for e.Kind() == reflect.Pointer {
					e = e.Elem()
				}
				out = append(out, plain(e))
			default:
				out = append(out, staticTyped(e))
			}
		}
		return out
	case reflect.Map:
		keys := v.MapKeys()
		if deref(t.Key()).Kind() == reflect.String {
			obj := J{}
			valid := true
			for _, k := range keys {
				valid = valid && utf8.ValidString(k.String())
				obj[k.String()] = staticTyped(v.MapIndex(k))
			}
			if valid {
				return obj
			}
			// A key that is not UTF-8 cannot be an object member: entries form instead.
		}
		out := make([]interface{}, 0, len(keys))
		for _, k := range keys {
			out = append(out, J{"key": staticTyped(k), "value": staticTyped(v.MapIndex(k))})
		}
		return out
	case reflect.Struct:
		obj := J{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() || f.Type.Kind() == reflect.Chan || f.Type.Kind() == reflect.Func {
				continue // gob sends neither unexported nor chan/func fields
			}
			obj[f.Name] = staticTyped(v.Field(i))
		}
		return obj
	}
	panic("gobgen: cannot render " + t.String())
}

func expectedEntries(sess map[interface{}]interface{}) []interface{} {
	out := make([]interface{}, 0, len(sess))
	for k, v := range sess {
		out = append(out, J{"key": ifaceTyped(k), "value": ifaceTyped(v)})
	}
	return out
}

// canonical renders entries with every list of map entries sorted, so two renderings of the
// same map compare equal whatever the iteration order was.
func canonical(x interface{}) string {
	b, err := json.Marshal(sortEntries(x))
	if err != nil {
		panic(err)
	}
	return string(b)
}

func sortEntries(x interface{}) interface{} {
	switch v := x.(type) {
	case J:
		out := J{}
		for k, e := range v {
			out[k] = sortEntries(e)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(v))
		isEntries := len(v) > 0
		for i, e := range v {
			out[i] = sortEntries(e)
			m, ok := e.(J)
			_, hasKey := m["key"]
			isEntries = isEntries && ok && hasKey && len(m) == 2
		}
		if isEntries {
			sort.Slice(out, func(i, j int) bool {
				a, _ := json.Marshal(out[i])
				b, _ := json.Marshal(out[j])
				return string(a) < string(b)
			})
		}
		return out
	}
	return x
}

// roundTripBugs are cases where Go's decoder (not the encoding) is wrong, so the round-trip
// check would fail; the expectation keeps what the encoder meant.
var roundTripBugs = map[string]string{
	"time_odd_minus": "Go 1.19 time.UnmarshalBinary reads the v2 offset-seconds byte as unsigned " +
		"(reported upstream as golang/go#78528), so Go itself loads this as -00:56; " +
		"MarshalBinary wrote int8(-30)",
}

// ---- main ----------------------------------------------------------------------------------

type manifestCase struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	File        string `json:"file"`
	Size        int    `json:"size"`
	SHA256      string `json:"sha256"`
	NumKeys     int    `json:"num_keys"`
	Ordered     bool   `json:"ordered"`
	// Set when Go's own decoder reads the bytes back differently from what was encoded.
	GoRoundTripNote string        `json:"go_roundtrip_note,omitempty"`
	Expected        []interface{} `json:"expected"`
}

type manifest struct {
	Generator string         `json:"generator"`
	GoVersion string         `json:"go_version"`
	Notes     []string       `json:"notes"`
	Cases     []manifestCase `json:"cases"`
}

func main() {
	out := flag.String("out", "fixtures/gob", "output directory")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	warmTypeNames()

	m := manifest{
		Generator: "tools/gobgen: beego v1.12.3 session.EncodeGob semantics (gob.Register each value, " +
			"Encoder.Encode(map[interface{}]interface{})), expected values by reflection in Go",
		GoVersion: runtime.Version(),
		Notes: []string{
			"expected uses sessdiag's typed-JSON shape: {\"type\": T, \"value\": V}",
			"entries (and nested lists of map entries) come in Go's random map order: compare as sets",
			"inside structs, maps and slices, integer and float widths are what gob carries: int64, uint64, float64",
			"float64_negzero: JSON cannot tell -0 from 0 once parsed; check the sign separately",
		},
	}
	seen := map[string]bool{}
	for _, c := range cases() {
		if seen[c.name] {
			fail(fmt.Errorf("duplicate case %q", c.name))
		}
		seen[c.name] = true
		data, err := encodeGob(c.sess)
		if err != nil {
			fail(fmt.Errorf("%s: encode: %w", c.name, err))
		}
		expected := expectedEntries(c.sess)
		// Proof that the bytes are what beego would load, and that the expectation does not
		// depend on values gob cannot carry: render what Go decodes and compare.
		back, err := decodeGob(data)
		if err != nil {
			fail(fmt.Errorf("%s: beego DecodeGob: %w", c.name, err))
		}
		got, want := canonical(expectedEntries(back)), canonical(expected)
		note, knownBug := roundTripBugs[c.name]
		if got != want && !knownBug {
			fail(fmt.Errorf("%s: round trip differs\n got: %.400s\nwant: %.400s", c.name, got, want))
		}
		if got == want {
			note = ""
		}
		file := c.name + ".gob"
		if err := os.WriteFile(filepath.Join(*out, file), data, 0o644); err != nil {
			fail(err)
		}
		sum := sha256.Sum256(data)
		m.Cases = append(m.Cases, manifestCase{
			Name: c.name, Description: c.desc, File: file, Size: len(data),
			SHA256: hex.EncodeToString(sum[:]), NumKeys: len(c.sess), Ordered: len(c.sess) <= 1,
			GoRoundTripNote: note, Expected: expected,
		})
	}
	buf := &bytes.Buffer{}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(m); err != nil {
		fail(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "manifest.json"), buf.Bytes(), 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("wrote %d cases to %s\n", len(m.Cases), *out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gobgen:", err)
	os.Exit(1)
}
