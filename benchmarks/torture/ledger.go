package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Record kinds of the ledger. Times are wall-clock unix nanoseconds of the
// one machine every process runs on.
const (
	kStart     = "start" // worker process started
	kSess      = "sess"  // health session created: Sess, TTL = its timeout (ms)
	kBeat      = "beat"  // the session's beat reached the pool: Send, T = reply, OK
	kAcq       = "acq"   // lease acquired: M, F, Sess, TTL (ms), Send, T = reply
	kRefresh   = "ref"   // refresh of lease F: Send, T = reply, OK, Lost (ErrNotHeld), TTL
	kFree      = "free"  // free intent of lease F, written before sending: T = send
	kFreed     = "freed" // free reply of lease F: OK
	kGuard     = "guard" // guarded write of fence F on member M by holding H: Send, T = reply, OK = accepted, Cur and CurH = stored before
	kDrop      = "drop"  // the holder stops using lease F without freeing it (it lapses)
	kOp        = "op"    // any operation's outcome, for counting: Op, OK, Err
	kRemove    = "rm"    // an op that may remove members Keys: Send, T = reply, OK
	kRemoving  = "rmi"   // the same op's intent, written before sending: Op, Keys, Send
	kIntent    = "tint"  // task intent, before Submit: ID, X, Fail
	kSubmitted = "tsub"  // Submit returned without error: ID
	kResult    = "tres"  // an outcome the submitter received: ID, R (result) or Err (handler error kind)
	kHandled   = "thand" // a handler run ended: ID, Att, OK, R
)

// Record is one ledger line. Fields not used by a kind stay empty.
type Record struct {
	K    string   `json:"k"`
	W    string   `json:"w"`
	T    int64    `json:"t"`
	Send int64    `json:"s,omitempty"`
	M    string   `json:"m,omitempty"`
	F    int64    `json:"f,omitempty"`
	Sess string   `json:"sess,omitempty"`
	TTL  int64    `json:"ttl,omitempty"`
	OK   bool     `json:"ok,omitempty"`
	Lost bool     `json:"lost,omitempty"`
	Op   string   `json:"op,omitempty"`
	Keys []string `json:"keys,omitempty"`
	ID   string   `json:"id,omitempty"`
	X    int64    `json:"x,omitempty"`
	Fail bool     `json:"fail,omitempty"`
	R    *int64   `json:"r,omitempty"`
	Err  string   `json:"err,omitempty"`
	Cur  int64    `json:"cur,omitempty"`
	H    string   `json:"h,omitempty"`
	CurH string   `json:"curh,omitempty"`
	Att  int      `json:"att,omitempty"`
}

func now() int64 { return time.Now().UnixNano() }

// ledgerWriter appends records to a worker's ledger file. The file is
// opened with O_APPEND and every record is one unbuffered write(2), so what
// was written survives a SIGKILL of the worker: the kernel has it.
type ledgerWriter struct {
	mu     sync.Mutex
	f      *os.File
	worker string
}

func openLedger(path, worker string) (*ledgerWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return &ledgerWriter{f: f, worker: worker}, nil
}

// put writes r, stamped with the worker id and, if unset, the time now.
func (l *ledgerWriter) put(r Record) {
	r.W = l.worker
	if r.T == 0 {
		r.T = now()
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic("bug: ledger record does not encode: " + err.Error())
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	// A failed write loses evidence, not safety: the checker then sees
	// less. The disk is local, so it does not happen in practice.
	_, _ = l.f.Write(b)
}

func (l *ledgerWriter) close() error { return l.f.Close() }

// ledgerTail reads a ledger file incrementally: each call returns the
// complete lines added since the last one.
type ledgerTail struct {
	path string
	off  int64
	torn int // lines that did not parse
}

func (t *ledgerTail) read() ([]Record, error) {
	f, err := os.Open(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		return nil, nil
	}
	data = data[:end+1]
	t.off += int64(len(data))
	return parseLines(data, &t.torn), nil
}

// finish returns a trailing line without newline (a write cut short) as
// torn: it is never completed once its writer is gone.
func (t *ledgerTail) finish() {
	if fi, err := os.Stat(t.path); err == nil && fi.Size() > t.off {
		t.torn++
		t.off = fi.Size()
	}
}

func parseLines(data []byte, torn *int) []Record {
	var out []Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			*torn++
			continue
		}
		out = append(out, r)
	}
	return out
}

// readLedgerFile reads a whole ledger file.
func readLedgerFile(path string) ([]Record, int, error) {
	t := &ledgerTail{path: path}
	recs, err := t.read()
	t.finish()
	return recs, t.torn, err
}
