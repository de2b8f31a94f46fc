package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// redisServer is the redis-server the controller runs: AOF on with the
// run's appendfsync policy, in its own directory, on a free port.
type redisServer struct {
	bin   string
	dir   string
	port  int
	fsync string   // appendfsync: always or everysec
	extra []string // further redis-server arguments (AOF timestamps, replicaof)
	cmd   *exec.Cmd
	done  chan struct{} // closed when the server process exited
	exit  error         // its exit status, once done is closed
}

// How restarts stop the server, for the summary.
const (
	restartGraceful = "graceful: SIGTERM (redis-server flushes and fsyncs the AOF and exits)"
	restartCrash    = "crash: SIGKILL of redis-server (no shutdown path runs)"
	restartThen     = "then a new redis-server on the same port and dir loads the AOF"
)

// appendfsync policies the run accepts.
const (
	fsyncAlways   = "always"
	fsyncEverysec = "everysec"
)

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startRedis(bin, dir, fsync string, extra ...string) (*redisServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r := &redisServer{bin: bin, dir: dir, port: port, fsync: fsync, extra: extra}
		if lastErr = r.start(); lastErr == nil {
			return r, nil
		}
	}
	return nil, lastErr
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisServer) start() error {
	args := []string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", r.fsync, "--save", "",
		"--daemonize", "no", "--logfile", filepath.Join(r.dir, "redis.log"),
		"--protected-mode", "no", "--maxclients", "2000",
	}
	args = append(args, r.extra...)
	cmd := exec.Command(r.bin, args...)
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	r.cmd = cmd
	done := make(chan struct{})
	r.done = done
	go func() { r.exit = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(30 * time.Second) // a long AOF takes a while to load
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			return fmt.Errorf("redis-server exited at start (%w); see %s", r.exit, filepath.Join(r.dir, "redis.log"))
		default:
		}
		if ping(r.addr()) == nil {
			// Every start checks what the run relies on: a redis.conf or
			// a build default must not have changed the policy.
			if err := r.checkConfig(); err != nil {
				_ = cmd.Process.Kill()
				<-r.done
				return err
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-r.done
	return errors.New("redis-server did not answer PING within 30s")
}

// errRedisConfig reports a server that does not run with the run's
// persistence settings.
var errRedisConfig = errors.New("torture: redis-server persistence settings differ")

// checkConfig requires, read back with CONFIG GET, appendonly yes, the
// run's appendfsync, and the defaults a compared crash relies on: fsyncs
// not skipped during an AOF rewrite, and a torn last command dropped at
// load rather than refusing to start.
func (r *redisServer) checkConfig() error {
	for param, want := range map[string]string{
		"appendonly": "yes", "appendfsync": r.fsync, "no-appendfsync-on-rewrite": "no", "aof-load-truncated": "yes",
	} {
		got, err := configGet(r.addr(), param)
		if err != nil {
			return fmt.Errorf("config get %s: %w", param, err)
		}
		if got != want {
			return fmt.Errorf("%w: %s is %q, want %q", errRedisConfig, param, got, want)
		}
	}
	return nil
}

// configGet sends CONFIG GET for one parameter and reads the RESP2 reply
// *2 $len name $len value.
func configGet(addr, param string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprintf(c, "CONFIG GET %s\r\n", param); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	var lines []string
	for range 5 {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		lines = append(lines, strings.TrimSpace(line))
	}
	if lines[0] != "*2" || lines[2] != param {
		return "", fmt.Errorf("unexpected reply %q", lines)
	}
	return lines[4], nil
}

// command sends one command (arguments without spaces, inline) and returns
// its reply: a simple or bulk string, or an integer as text; an error
// reply is an error.
func command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\r\n", strings.Join(args, " ")); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"), strings.HasPrefix(line, ":"):
		return line[1:], nil
	case strings.HasPrefix(line, "-"):
		return "", errors.New(line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// infoField reads one field of an INFO section ("" when absent).
func infoField(addr, section, field string) (string, error) {
	info, err := command(addr, "INFO", section)
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v, nil
		}
	}
	return "", nil
}

// ping sends an inline PING and expects +PONG (LOADING errors mean not yet).
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("ping: %q", strings.TrimSpace(line))
	}
	return nil
}

// stop shuts the server down gracefully (SIGTERM: the AOF is fsynced), or
// kills it after 30 s.
func (r *redisServer) stop() error {
	if r.cmd == nil {
		return nil
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
		r.cmd = nil
		return errors.New("redis-server ignored SIGTERM for 30s; killed")
	}
	r.cmd = nil
	return nil
}

// crash SIGKILLs the server: no shutdown path runs, so the AOF holds only
// what redis-server had written to it while it served (the kernel keeps
// what was written; only a machine crash would also test the fsync).
func (r *redisServer) crash() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	r.cmd = nil
}

// restart stops the server, gracefully or by SIGKILL, and starts a new one
// on the same port and directory, which loads the AOF. between, if not
// nil, runs while no server is up (to cut the AOF).
func (r *redisServer) restart(crash bool, between func() error) error {
	if crash {
		r.crash()
	} else if err := r.stop(); err != nil {
		return err
	}
	if between != nil {
		if err := between(); err != nil {
			return err
		}
	}
	var err error
	for range 50 { // the port may linger a moment
		if err = r.start(); err == nil || errors.Is(err, errRedisConfig) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// version asks redis-server --version.
func redisVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v
		}
	}
	return strings.TrimSpace(string(out))
}
