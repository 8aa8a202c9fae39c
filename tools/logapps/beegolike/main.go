// beegolike: a small Go web app whose sessions work like beego v1.12.3's file provider
// (session/sess_file.go + session/session.go), standard library only, for sessdiag's tests.
//
//   - the session id is hex(16 random bytes); the cookie (casdoor's "casdoor_session_id" by
//     default) carries it, URL-escaped, with a 30-day lifetime like casdoor's;
//   - SessionStart: if the cookie names an existing file (SessionExist) it is read
//     (SessionRead: Chtimes to now, gob-decode); otherwise a new id is made, its file created
//     empty at SAVEPATH/sid[0]/sid[1]/sid, and the cookie set;
//   - SessionRelease at the end of every request writes gob(map[interface{}]interface{}) back
//     (20 bytes for an empty session), like beego's router does;
//   - each step takes the provider's global lock, but the request as a whole does not: two
//     requests with the same expired cookie each create a new session (incident 2).
//
// Usage: beegolike ADDR SAVEPATH [COOKIE]; prints "listening on ADDR" when it accepts.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

var (
	lock       sync.Mutex
	savePath   string
	cookieName = "casdoor_session_id"
	lifetime   = 30 * 24 * 3600
)

type store struct {
	sid    string
	values map[interface{}]interface{}
}

func pathOf(sid string) string { return filepath.Join(savePath, sid[0:1], sid[1:2], sid) }

func exist(sid string) bool {
	lock.Lock()
	defer lock.Unlock()
	if len(sid) < 2 {
		return false
	}
	_, err := os.Stat(pathOf(sid))
	return err == nil
}

func read(sid string) (*store, error) {
	lock.Lock()
	defer lock.Unlock()
	if err := os.MkdirAll(filepath.Dir(pathOf(sid)), 0755); err != nil {
		return nil, err
	}
	p := pathOf(sid)
	f, err := os.OpenFile(p, os.O_RDWR, 0777)
	if os.IsNotExist(err) {
		f, err = os.Create(p)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	now := time.Now()
	os.Chtimes(p, now, now)
	var buf bytes.Buffer
	buf.ReadFrom(f)
	values := map[interface{}]interface{}{}
	if buf.Len() > 0 {
		if err := gob.NewDecoder(&buf).Decode(&values); err != nil {
			return nil, err
		}
	}
	return &store{sid: sid, values: values}, nil
}

func (s *store) release() {
	var buf bytes.Buffer
	for _, v := range s.values {
		gob.Register(v)
	}
	if err := gob.NewEncoder(&buf).Encode(s.values); err != nil {
		return
	}
	lock.Lock()
	defer lock.Unlock()
	if _, err := os.Stat(pathOf(s.sid)); err != nil {
		return // destroyed meanwhile
	}
	f, err := os.OpenFile(pathOf(s.sid), os.O_RDWR|os.O_TRUNC, 0777)
	if err != nil {
		return
	}
	f.Write(buf.Bytes())
	f.Close()
}

func newSid() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func start(w http.ResponseWriter, r *http.Request) (*store, error) {
	if c, err := r.Cookie(cookieName); err == nil && c.Value != "" {
		sid, _ := url.QueryUnescape(c.Value)
		if exist(sid) {
			return read(sid)
		}
	}
	sid := newSid()
	s, err := read(sid)
	if err != nil {
		return nil, err
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: url.QueryEscape(sid), Path: "/",
		HttpOnly: true, MaxAge: lifetime,
		Expires: time.Now().Add(time.Duration(lifetime) * time.Second)})
	return s, nil
}

func pause(r *http.Request) {
	if ms, err := strconv.Atoi(r.URL.Query().Get("delay_ms")); err == nil && ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond) // the handler's own work
	}
}

func withSession(h func(http.ResponseWriter, *http.Request, *store)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := start(w, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer s.release()
		h(w, r, s)
	}
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: beegolike ADDR SAVEPATH [COOKIE]")
		os.Exit(2)
	}
	addr := os.Args[1]
	savePath = os.Args[2]
	if len(os.Args) > 3 {
		cookieName = os.Args[3]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/login", withSession(func(w http.ResponseWriter, r *http.Request, s *store) {
		pause(r)
		user := r.URL.Query().Get("user")
		if user == "" {
			user = "alice"
		}
		s.values["username"] = user
		fmt.Fprintf(w, "logged in as %s\n", user)
	}))
	mux.HandleFunc("/info", withSession(func(w http.ResponseWriter, r *http.Request, s *store) {
		pause(r)
		json.NewEncoder(w).Encode(map[string]interface{}{"user": s.values["username"]})
	}))
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(cookieName); err == nil {
			sid, _ := url.QueryUnescape(c.Value)
			lock.Lock()
			if len(sid) >= 2 {
				os.Remove(pathOf(sid))
			}
			lock.Unlock()
		}
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1,
			Expires: time.Unix(0, 0)})
		fmt.Fprintln(w, "bye")
	})
	mux.HandleFunc("/", withSession(func(w http.ResponseWriter, r *http.Request, s *store) {
		if u, ok := s.values["username"]; ok {
			fmt.Fprintf(w, "hello %v\n", u)
			return
		}
		fmt.Fprintln(w, "hello guest")
	}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", addr)
	http.Serve(ln, mux)
}
