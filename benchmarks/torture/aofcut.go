package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// aofCut is what cutAOF removed.
type aofCut struct {
	File     string // the incremental AOF file cut
	Bytes    int64  // bytes removed from its end
	Commands int    // top-level units removed: single commands and MULTI…EXEC blocks
}

// cutAOF truncates the newest incremental AOF file of a Redis 7 server
// directory so that it ends before the first command Redis appended at or
// after unix second from: it simulates a machine crash that lost the tail
// appendfsync everysec had not synced yet (up to a second or two in Redis's
// contract). The server must run with aof-timestamp-enabled, whose "#TS:"
// annotations (written whenever the second changes) date the commands; the
// cut never splits a MULTI…EXEC block (a script's effects). Run it only
// while redis-server is down.
func cutAOF(dir string, from int64) (aofCut, error) {
	file, err := lastIncrAOF(dir)
	if err != nil {
		return aofCut{}, err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return aofCut{}, err
	}
	at, units, err := aofCutOffset(data, from)
	if err != nil {
		return aofCut{}, fmt.Errorf("%s: %w", file, err)
	}
	cut := aofCut{File: file, Bytes: int64(len(data) - at), Commands: units}
	if cut.Bytes > 0 {
		if err := os.Truncate(file, int64(at)); err != nil {
			return aofCut{}, err
		}
	}
	return cut, nil
}

// lastIncrAOF reads the manifest of the AOF directory (Redis 7: lines
// "file NAME seq N type b|h|i") and returns the path of its last
// incremental file.
func lastIncrAOF(dir string) (string, error) {
	adir := filepath.Join(dir, "appendonlydir")
	m, err := os.ReadFile(filepath.Join(adir, "appendonly.aof.manifest"))
	if err != nil {
		return "", err
	}
	var last string
	for line := range strings.SplitSeq(string(m), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[0] == "file" && f[4] == "type" && f[5] == "i" {
			last = f[1]
		}
	}
	if last == "" {
		return "", errors.New("aof manifest lists no incremental file")
	}
	return filepath.Join(adir, last), nil
}

// aofCutOffset returns the offset at which data (an AOF: RESP arrays and
// "#TS:<unix seconds>" annotation lines) must end to drop every unit (a
// command outside a transaction, or a MULTI…EXEC block) dated at or after
// from (by the last annotation before its end), and how many units that
// drops. A torn or unterminated last unit counts as one.
func aofCutOffset(data []byte, from int64) (at, dropped int, err error) {
	type unit struct {
		start int
		ts    int64
	}
	var units []unit
	ts := int64(-1)
	open := -1 // start of an unterminated MULTI
	r := bufio.NewReader(bytes.NewReader(data))
	for off := 0; off < len(data); {
		switch data[off] {
		case '#':
			line, err := r.ReadString('\n')
			if err != nil {
				off = len(data) // a torn annotation: nothing to keep there
				break
			}
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "#TS:"); ok {
				if ts, err = strconv.ParseInt(v, 10, 64); err != nil {
					return 0, 0, fmt.Errorf("bad annotation %q", line)
				}
			}
			off += len(line)
		case '*':
			args, n, err := readCommand(r)
			start := off
			if open >= 0 {
				start = open
			}
			if err != nil {
				units = append(units, unit{start, ts})
				open, off = -1, len(data)
				break
			}
			off += n
			switch strings.ToUpper(args[0]) {
			case "MULTI":
				open = start
			case "EXEC":
				units, open = append(units, unit{start, ts}), -1
			default:
				if open < 0 {
					units = append(units, unit{start, ts})
				}
			}
		default:
			return 0, 0, fmt.Errorf("unexpected byte %q at offset %d", data[off], off)
		}
	}
	if open >= 0 {
		units = append(units, unit{open, ts}) // Redis drops an open transaction too
	}
	for i, u := range units {
		if u.ts >= from {
			return u.start, len(units) - i, nil
		}
	}
	return len(data), 0, nil
}

// readCommand reads one RESP array of bulk strings and returns its
// arguments and length in bytes.
func readCommand(r *bufio.Reader) ([]string, int, error) {
	n := 0
	header, err := r.ReadString('\n')
	n += len(header)
	if err != nil || len(header) < 4 || header[0] != '*' {
		return nil, n, fmt.Errorf("bad array header %q", header)
	}
	count, err := strconv.Atoi(strings.TrimSpace(header[1:]))
	if err != nil || count < 1 {
		return nil, n, fmt.Errorf("bad array header %q", header)
	}
	args := make([]string, 0, count)
	for range count {
		h, err := r.ReadString('\n')
		n += len(h)
		if err != nil || len(h) < 3 || h[0] != '$' {
			return nil, n, fmt.Errorf("bad bulk header %q", h)
		}
		size, err := strconv.Atoi(strings.TrimSpace(h[1:]))
		if err != nil {
			return nil, n, err
		}
		buf := make([]byte, size+2)
		k, err := io.ReadFull(r, buf)
		n += k
		if err != nil {
			return nil, n, err
		}
		args = append(args, string(buf[:size]))
	}
	return args, n, nil
}
