package lock_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/internal/redisx"
	"github.com/redisallocator/redisallocator/internal/redisx/redisxtest"
)

// server is one independent Redis for the quorum tests: a miniredis, or a
// redis-server process this test started.
type redisServer struct {
	client rueidis.Client
	stop   func() // makes the server unreachable
	start  func() // brings it back with its data (miniredis only)
}

// serverKinds are the kinds of independent servers the quorum tests run
// on: miniredis always, real redis-server processes when the binary is
// there (required under CI).
var serverKinds = []string{"miniredis", "process"}

// startServers starts n independent servers of kind; everything started
// is stopped in t.Cleanup.
func startServers(t *testing.T, kind string, n int) []*redisServer {
	t.Helper()
	out := make([]*redisServer, n)
	for i := range n {
		switch kind {
		case "miniredis":
			out[i] = startMini(t)
		case "process":
			out[i] = startProcess(t)
		default:
			t.Fatalf("unknown server kind %q", kind)
		}
	}
	return out
}

func startMini(t *testing.T) *redisServer {
	t.Helper()
	m := miniredis.RunT(t)
	m.ClockTTL(true)
	c, err := rueidis.NewClient(redisx.EmbeddedClientOption(m.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &redisServer{
		client: c,
		stop:   m.Close,
		start: func() {
			if err := m.Restart(); err != nil {
				t.Fatal(err)
			}
			// The client may answer from state it gathered while the server
			// was down (a cluster-topology refresh dialling in the
			// background shares its refused dial with the next call), so the
			// server counts as back once the client itself reaches it.
			waitClient(t, c, 5*time.Second)
		},
	}
}

// redisServerBin finds redis-server, skipping the test when it is missing
// except under CI, where a missing binary fails.
func redisServerBin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(redisxtest.EnvCI) != "" {
			t.Fatalf("redis-server not on PATH, and CI is set: %v", err)
		}
		t.Skipf("redis-server not on PATH: %v", err)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProcess starts redis-server on a free loopback port, without
// persistence, and kills exactly that process at cleanup.
func startProcess(t *testing.T) *redisServer {
	t.Helper()
	bin := redisServerBin(t)
	var (
		cmd    *exec.Cmd
		addr   string
		exited chan struct{}
	)
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		addr = "127.0.0.1:" + strconv.Itoa(port)
		cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		exited = make(chan struct{})
		go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(cmd, exited)
		// The port was free a moment ago, but a parallel test's listener
		// (a miniredis on :0) may have taken it since: then redis-server
		// exits and a PING would be answered by someone else's server. So
		// the server must be this very process.
		if waitOwnServer(addr, cmd.Process.Pid, exited, 5*time.Second) {
			break
		}
		_ = cmd.Process.Kill()
		<-exited
		if attempt == 3 {
			t.Fatalf("redis-server on %s did not answer", addr)
		}
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(stop)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &redisServer{client: c, stop: stop}
}

// waitOwnServer waits until the Redis at addr answers INFO as process pid,
// giving up after limit or as soon as exited is closed.
func waitOwnServer(addr string, pid int, exited <-chan struct{}, limit time.Duration) bool {
	want := "process_id:" + strconv.Itoa(pid) + "\r\n"
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if info, ok := infoServer(addr); ok && strings.Contains(info, want) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// infoServer returns the reply to INFO server at addr.
func infoServer(addr string) (string, bool) {
	conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return "", false
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("INFO server\r\n")); err != nil {
		return "", false
	}
	r := bufio.NewReader(conn)
	head, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "$") {
		return "", false // -LOADING and the like: not ready yet
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil || n < 0 {
		return "", false
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return "", false
	}
	return string(body), true
}

// waitClient waits until c answers PING, failing the test after limit.
func waitClient(t *testing.T, c rueidis.Client, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Do(ctx, c.B().Ping().Build()).Error()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("client did not reach the restarted server within %v: %v", limit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func clientsOf(ss []*redisServer) []rueidis.Client {
	out := make([]rueidis.Client, len(ss))
	for i, s := range ss {
		out[i] = s.client
	}
	return out
}

// getOn reads key on one server; errors (a stopped server) read as absent.
func getOn(s *redisServer, key string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	v, err := s.client.Do(ctx, s.client.B().Get().Key(key).Build()).ToString()
	if err != nil {
		return "", false
	}
	return v, true
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
