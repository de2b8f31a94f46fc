//go:build unix

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// resourceWrite is one guarded write to the fenced resource: a file per
// member outside Redis, so that it keeps what it saw when Redis loses
// writes (an AOF tail cut, a failover to a lagging replica), as a real
// resource (a database, a storage service) would. Under an exclusive
// flock it reads the highest fence written so far and who wrote it, and
// accepts fence when it is not lower (a resource only sees numbers: an
// equal fence from another holder passes, which the checker counts as a
// superseded write accepted). It returns whether it accepted and what it
// held before.
func resourceWrite(dir, member string, fence int64, holder string) (ok bool, cur int64, curHolder string, err error) {
	f, err := os.OpenFile(filepath.Join(dir, member), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return false, 0, "", err
	}
	defer func() { _ = f.Close() }()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return false, 0, "", err
	}
	// Closing the file releases the lock (after the write below).
	b := make([]byte, 256)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, 0, "", err
	}
	if s := strings.TrimSpace(string(b[:n])); s != "" {
		num, who, _ := strings.Cut(s, " ")
		if cur, err = strconv.ParseInt(num, 10, 64); err != nil {
			return false, 0, "", fmt.Errorf("resource %s: %q", member, s)
		}
		curHolder = who
	}
	if fence < cur {
		return false, cur, curHolder, nil
	}
	rec := []byte(fmt.Sprintf("%d %s\n", fence, holder))
	if err := f.Truncate(0); err != nil {
		return false, cur, curHolder, err
	}
	if _, err := f.WriteAt(rec, 0); err != nil {
		return false, cur, curHolder, err
	}
	return true, cur, curHolder, nil
}
