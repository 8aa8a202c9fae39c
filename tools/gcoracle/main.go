// gcoracle runs beego's file-session GC on a tree, the way beego does it, and reports
// how long the GC held the provider lock and how long a request arriving at start-up
// waited for it.
//
// It reproduces beego v1.12.3 session/sess_file.go (unchanged in v2
// server/web/session/sess_file.go):
//
//	func (fp *FileProvider) SessionGC() {
//	    filepder.lock.Lock()
//	    defer filepder.lock.Unlock()
//	    gcmaxlifetime = fp.maxlifetime
//	    filepath.Walk(fp.savePath, gcpath)
//	}
//	func gcpath(path string, info os.FileInfo, err error) error {
//	    if err != nil { return err }
//	    if info.IsDir() { return nil }
//	    if (info.ModTime().Unix() + gcmaxlifetime) < time.Now().Unix() { os.Remove(path) }
//	    return nil
//	}
//
// and SessionExist (lock, os.Stat of savePath/sid[0]/sid[1]/sid, unlock), which every
// request with a session cookie calls first. Standard library only.
//
// WARNING: like beego, it deletes every non-directory older than -maxlifetime under
// -root (unless -dry-run).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// provider mirrors beego's FileProvider: one RWMutex taken with Lock() by GC and by
// every request-path method.
type provider struct {
	lock        sync.RWMutex
	maxlifetime int64
	savePath    string
	dryRun      bool

	// Instrumentation, touched only by the goroutine holding the lock.
	files, dirs, deleted, removeErrors, expiredSeen int64
	walkErr                                         error
}

func (fp *provider) gcpath(path string, info os.FileInfo, err error) error {
	if err != nil {
		return err // beego: the first error aborts the whole Walk
	}
	if info.IsDir() {
		fp.dirs++
		return nil
	}
	fp.files++
	if (info.ModTime().Unix() + fp.maxlifetime) < time.Now().Unix() {
		fp.expiredSeen++
		if fp.dryRun {
			return nil
		}
		if os.Remove(path) == nil {
			fp.deleted++
		} else {
			fp.removeErrors++
		}
	}
	return nil
}

// SessionGC holds the lock for the whole walk; locked is closed once it holds it.
func (fp *provider) SessionGC(locked chan<- struct{}) {
	fp.lock.Lock()
	defer fp.lock.Unlock()
	close(locked)
	fp.walkErr = filepath.Walk(fp.savePath, fp.gcpath)
}

func (fp *provider) SessionExist(sid string) bool {
	fp.lock.Lock()
	defer fp.lock.Unlock()
	if len(sid) < 2 {
		return false
	}
	_, err := os.Stat(filepath.Join(fp.savePath, string(sid[0]), string(sid[1]), sid))
	return err == nil
}

type result struct {
	Root              string  `json:"root"`
	MaxLifetime       int64   `json:"max_lifetime_s"`
	DryRun            bool    `json:"dry_run"`
	GCWallS           float64 `json:"gc_wall_s"`
	FirstRequestWaitS float64 `json:"first_request_wait_s"`
	MaxRequestWaitS   float64 `json:"max_request_wait_s"`
	Requests          int     `json:"requests"`
	RequestFound      bool    `json:"request_sid_found"`
	FilesWalked       int64   `json:"files_walked"`
	DirsWalked        int64   `json:"dirs_walked"`
	Expired           int64   `json:"expired_seen"`
	Deleted           int64   `json:"deleted"`
	RemoveErrors      int64   `json:"remove_errors"`
	Aborted           bool    `json:"aborted"`
	Error             string  `json:"error,omitempty"`
	RootIsSymlink     bool    `json:"root_is_symlink"`
	CPUUserS          float64 `json:"cpu_user_s"`
	CPUSysS           float64 `json:"cpu_sys_s"`
	// From /proc/self/task/*/schedstat at the end: time the process's threads ran and
	// waited on a run queue (runnable, no CPU free). On a loaded machine the wait is what
	// the GC paid for the neighbours' CPU use; gc-estimate's probe measures its own.
	SchedRunS  float64 `json:"sched_run_s"`
	SchedWaitS float64 `json:"sched_wait_s"`
	// Blocks the process read from storage (getrusage ru_inblock, 512-byte units).
	ReadBlocks int64  `json:"read_blocks_512"`
	GoVersion  string `json:"go_version"`
	StartedAt  string `json:"started_at"`
}

func main() {
	root := flag.String("root", "", "session save path (beego's ProviderConfig), used as given")
	maxlife := flag.Int64("maxlifetime", 3600, "beego Maxlifetime (SessionGCMaxLifetime), seconds")
	sid := flag.String("sid", "0123456789abcdef0123456789abcdef",
		"session id the concurrent requests look up with SessionExist")
	requests := flag.Int("requests", 2, "concurrent requests started once GC holds the lock")
	dryRun := flag.Bool("dry-run", false, "walk and count, remove nothing (not beego: for tests)")
	flag.Parse()
	if *root == "" || *requests < 0 {
		fmt.Fprintln(os.Stderr, "usage: gcoracle -root TREE [-maxlifetime S] [-sid SID] [-requests N] [-dry-run]")
		os.Exit(2)
	}
	fp := &provider{maxlifetime: *maxlife, savePath: *root, dryRun: *dryRun}
	res := result{Root: *root, MaxLifetime: *maxlife, DryRun: *dryRun, Requests: *requests,
		GoVersion: runtime.Version()}
	if st, err := os.Lstat(*root); err == nil && st.Mode()&os.ModeSymlink != 0 {
		res.RootIsSymlink = true
	}

	locked := make(chan struct{})
	gcDone := make(chan time.Duration, 1)
	t0 := time.Now()
	res.StartedAt = t0.UTC().Format(time.RFC3339Nano)
	go func() { // beego: `go GlobalSessions.GC()` at start-up
		fp.SessionGC(locked)
		gcDone <- time.Since(t0)
	}()
	<-locked // the requests arrive while the GC holds the lock, as after a restart

	type reqResult struct {
		wait  time.Duration
		found bool
	}
	waits := make(chan reqResult, *requests)
	var wg sync.WaitGroup
	for i := 0; i < *requests; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r0 := time.Now()
			ok := fp.SessionExist(*sid)
			waits <- reqResult{time.Since(r0), ok}
		}()
	}
	gcWall := <-gcDone
	wg.Wait()
	close(waits)
	first := true
	for w := range waits {
		s := w.wait.Seconds()
		if first || s < res.FirstRequestWaitS {
			res.FirstRequestWaitS = s
		}
		if s > res.MaxRequestWaitS {
			res.MaxRequestWaitS = s
		}
		res.RequestFound = res.RequestFound || w.found
		first = false
	}
	res.GCWallS = gcWall.Seconds()
	// CPU the process used: wall >> user+sys means it waited (I/O, or a busy machine).
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.CPUUserS = time.Duration(ru.Utime.Nano()).Seconds()
		res.CPUSysS = time.Duration(ru.Stime.Nano()).Seconds()
		res.ReadBlocks = ru.Inblock
	}
	res.SchedRunS, res.SchedWaitS = schedstat()
	res.FilesWalked = fp.files
	res.DirsWalked = fp.dirs
	res.Expired = fp.expiredSeen
	res.Deleted = fp.deleted
	res.RemoveErrors = fp.removeErrors
	if fp.walkErr != nil && !errors.Is(fp.walkErr, filepath.SkipDir) {
		res.Aborted = true
		res.Error = fp.walkErr.Error()
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		os.Exit(1)
	}
}

// schedstat sums the run and run-queue wait time of every thread of this process
// (/proc/self/task/*/schedstat: ns on a CPU, ns waiting for one); 0, 0 when unreadable.
func schedstat() (runS, waitS float64) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, 0
	}
	var run, wait int64
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", t.Name(), "schedstat"))
		if err != nil {
			continue
		}
		f := bytes.Fields(b)
		if len(f) < 2 {
			continue
		}
		r, err1 := strconv.ParseInt(string(f[0]), 10, 64)
		w, err2 := strconv.ParseInt(string(f[1]), 10, 64)
		if err1 == nil && err2 == nil {
			run += r
			wait += w
		}
	}
	return time.Duration(run).Seconds(), time.Duration(wait).Seconds()
}
