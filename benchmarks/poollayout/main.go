// Command poollayout measures candidate Redis layouts of a pool's members:
// the used_memory delta per idle member at 100,000 members (without and with
// a member expiry, and again after a churn of malloc/free pairs), and the
// Redis CPU of one malloc+free pair (INFO commandstats). It is a design
// study for issue 14 point 3; see docs/pool-layout.md and the README here.
//
//	bash .ci/redis-up /tmp/redis-poolmem && source /tmp/redis-poolmem/env
//	cd benchmarks && go run ./poollayout
//	bash .ci/redis-down /tmp/redis-poolmem
//
// Only the "pool" row runs the real pool package; the others are minimal
// Lua scripts written for this study (no validation beyond what malloc
// needs to stay correct), so their CPU figures are lower bounds.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/redisallocator/redisallocator/pool"
)

var (
	members = flag.Int("members", 100_000, "members per pool")
	churn   = flag.Int("churn", 100_000, "malloc+free pairs of the churn (plus a fifth as many MallocMember+free)")
	pairs   = flag.Int("pairs", 2000, "sequential malloc+free pairs timed with INFO commandstats")
	only    = flag.String("only", "", "run only the layouts whose name contains this")
	nb      = flag.Int("buckets", 2048, "record hashes of the bucketed layouts (keep members/buckets under hash-max-listpack-entries)")
	cgPID   = flag.Int("callgrind", 0, "pid of a redis-server under valgrind --tool=callgrind: zero its counts before the timed pairs, dump after, report instructions per pair (no expiry rows)")
	cgDir   = flag.String("callgrind-dir", ".", "the working directory of that valgrind (where it writes callgrind.out.PID.N)")
)

// memberKey matches pool/bench_test.go's BenchmarkMemoryPerMember: m0..m99999, no value.
func memberKey(i int) string { return "m" + strconv.Itoa(i) }

const batch = 2000

func main() {
	flag.Parse()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		fmt.Fprintln(os.Stderr, "REDIS_URL not set")
		os.Exit(2)
	}
	opt, err := rueidis.ParseURL(url)
	must(err)
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	must(err)
	defer c.Close()
	ctx := context.Background()
	// Redis 7 allocates a latency histogram per command on first use and
	// CONFIG RESETSTAT frees them: both would move used_memory.
	must(c.Do(ctx, c.B().ConfigSet().ParameterValue().ParameterValue("latency-tracking", "no").Build()).Error())
	fmt.Printf("redis %s, members %d, churn %d pairs + %d MallocMember pairs, timed pairs %d\n",
		info(ctx, c, "server", "redis_version"), *members, *churn, *churn/5, *pairs)
	fmt.Printf("%-10s %10s %10s %12s %12s %14s\n", "layout", "B/member", "B/m+exp", "churn B/m", "churn B/m+exp", "us/pair(lua)")
	if *cgPID != 0 {
		fmt.Println("(last column: callgrind instructions per pair inside evalShaCommand)")
	}
	for _, l := range layouts {
		if *only != "" && !strings.Contains(l.name, *only) {
			continue
		}
		var row [4]float64
		var us float64
		exps := []bool{false, true}
		if *cgPID != 0 {
			exps = exps[:1]
		}
		for i, exp := range exps {
			before, after, churned, u := l.run(ctx, c, exp)
			row[i] = float64(after-before) / float64(*members)
			row[2+i] = float64(churned-before) / float64(*members)
			if !exp {
				us = u
			}
		}
		fmt.Printf("%-10s %10.1f %10.1f %12.1f %12.1f %14.2f\n", l.name, row[0], row[2-1], row[2], row[3], us)
	}
}

type layout struct {
	name string
	run  func(ctx context.Context, c rueidis.Client, exp bool) (before, after, churned int64, usPerPair float64)
}

var layouts = []layout{
	{"pool", runPool},
	{"hashlist", func(ctx context.Context, c rueidis.Client, exp bool) (int64, int64, int64, float64) {
		return runLua(ctx, c, exp, listScripts(false))
	}},
	{"links", func(ctx context.Context, c rueidis.Client, exp bool) (int64, int64, int64, float64) {
		return runLua(ctx, c, exp, linkScripts(false))
	}},
	{"buckets", func(ctx context.Context, c rueidis.Client, exp bool) (int64, int64, int64, float64) {
		return runLua(ctx, c, exp, listScripts(true))
	}},
	{"bucketlinks", func(ctx context.Context, c rueidis.Client, exp bool) (int64, int64, int64, float64) {
		return runLua(ctx, c, exp, linkScripts(true))
	}},
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func prefix() string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return "layout-" + hex.EncodeToString(r[:])
}

func info(ctx context.Context, c rueidis.Client, section, field string) string {
	s, err := c.Do(ctx, c.B().Info().Section(section).Build()).ToString()
	must(err)
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

func usedMemory(ctx context.Context, c rueidis.Client) int64 {
	n, err := strconv.ParseInt(info(ctx, c, "memory", "used_memory"), 10, 64)
	must(err)
	return n
}

// scriptUsec sums usec of every command but INFO and CONFIG since the last
// CONFIG RESETSTAT: the scripts and whatever else a pool call runs.
func scriptUsec(ctx context.Context, c rueidis.Client) float64 {
	s, err := c.Do(ctx, c.B().Info().Section("commandstats").Build()).ToString()
	must(err)
	var sum float64
	for line := range strings.SplitSeq(s, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_")
		if !ok || strings.HasPrefix(rest, "info") || strings.HasPrefix(rest, "config") {
			continue
		}
		for f := range strings.SplitSeq(rest, ",") {
			if i := strings.Index(f, "usec="); i >= 0 {
				v, err := strconv.ParseFloat(f[i+5:], 64)
				must(err)
				sum += v
			}
		}
	}
	return sum
}

func resetStat(ctx context.Context, c rueidis.Client) {
	// A full Lua collection first: the garbage of the load (its ARGV
	// strings) is otherwise collected in small steps during timed calls.
	must(c.Do(ctx, c.B().Eval().Script("collectgarbage('collect') return 1").Numkeys(0).Build()).Error())
	must(c.Do(ctx, c.B().ConfigResetstat().Build()).Error())
	if *cgPID != 0 {
		must(exec.Command("callgrind_control", "-z", strconv.Itoa(*cgPID)).Run())
	}
}

// perPair is the script usec per timed pair, or with -callgrind the
// instructions per pair (Ir since the last zeroing, from a fresh dump).
func perPair(ctx context.Context, c rueidis.Client) float64 {
	if *cgPID == 0 {
		return scriptUsec(ctx, c) / float64(*pairs)
	}
	pat := filepath.Join(*cgDir, fmt.Sprintf("callgrind.out.%d.*", *cgPID))
	old, _ := filepath.Glob(pat)
	must(exec.Command("callgrind_control", "-d", strconv.Itoa(*cgPID)).Run())
	for range 600 {
		now, _ := filepath.Glob(pat)
		for _, f := range now {
			if slices.Contains(old, f) {
				continue
			}
			b, err := os.ReadFile(f)
			must(err)
			for line := range strings.SplitSeq(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "totals: "); ok {
					n, err := strconv.ParseFloat(strings.Fields(v)[0], 64)
					must(err)
					return n / float64(*pairs)
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	must(fmt.Errorf("no new dump %s", pat))
	return 0
}

func dropKeys(ctx context.Context, c rueidis.Client, pfx string) {
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(pfx+"*").Count(1000).Build()).AsScanEntry()
		must(err)
		if len(e.Elements) > 0 {
			must(c.Do(ctx, c.B().Del().Key(e.Elements...).Build()).Error())
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}

// settle waits for the lazy-free thread and jemalloc so before/after readings
// are not taken mid-free.
func settle() { time.Sleep(300 * time.Millisecond) }

func randInt(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}

// runPool is the reference row: today's layout through the public API.
func runPool(ctx context.Context, c rueidis.Client, exp bool) (before, after, churned int64, us float64) {
	pfx := prefix()
	p, err := pool.New[struct{}](c, pfx, "memory")
	must(err)
	var opts []pool.MemberOption
	if exp {
		opts = append(opts, pool.MemberTTL(24*time.Hour))
	}
	_, err = p.AddKeys(ctx, []string{"warm"}, opts...)
	must(err)
	a, err := p.Malloc(ctx)
	must(err)
	must(a.Release(ctx))
	mm, err := p.MallocMember(ctx, "warm")
	must(err)
	must(mm.Release(ctx))
	_, err = p.Remove(ctx, "warm")
	must(err)
	settle()
	before = usedMemory(ctx, c)
	for from := 0; from < *members; from += batch {
		keys := make([]string, 0, batch)
		for i := from; i < min(from+batch, *members); i++ {
			keys = append(keys, memberKey(i))
		}
		_, err := p.AddKeys(ctx, keys, opts...)
		must(err)
	}
	settle()
	after = usedMemory(ctx, c)
	for done := 0; done < *churn; done += 500 {
		as, err := p.MallocN(ctx, 500)
		must(err)
		must(p.Release(ctx, as...))
		for range 100 {
			a, err := p.MallocMember(ctx, memberKey(randInt(*members)))
			if err == nil {
				must(a.Release(ctx))
			}
		}
	}
	settle()
	churned = usedMemory(ctx, c)
	if !exp {
		// As many untimed pairs first: the Lua garbage of the load is
		// collected in steps during later calls, which must not be timed.
		for i := range 2 * *pairs {
			if i == *pairs {
				resetStat(ctx, c)
			}
			a, err := p.Malloc(ctx)
			must(err)
			must(a.Release(ctx))
		}
		us = perPair(ctx, c)
	}
	_, err = p.Admin().Clear(ctx)
	must(err)
	dropKeys(ctx, c, pfx)
	return before, after, churned, us
}

// scripts is one Lua candidate: KEYS are the layout's keys (all under one
// prefix); load(ARGV: exp, members...) adds idle members; malloc(ARGV: now,
// token) returns a member or false; mallocMember(ARGV: now, token, member);
// free(ARGV: member, token).
type scripts struct {
	keys                             func(pfx string) []string
	load, malloc, mallocMember, free *rueidis.Lua
}

func runLua(ctx context.Context, c rueidis.Client, exp bool, s scripts) (before, after, churned int64, us float64) {
	pfx := prefix()
	keys := s.keys(pfx)
	now := time.Now().UnixMilli()
	expArg := "0"
	if exp {
		expArg = strconv.FormatInt(now+24*3600*1000, 10)
	}
	nowArg := strconv.FormatInt(now, 10)
	// Load every script (the cache is part of used_memory) with a member
	// that goes again.
	must(s.load.Exec(ctx, c, keys, []string{expArg, "warm"}).Error())
	w, err := s.malloc.Exec(ctx, c, keys, []string{nowArg, "t"}).ToString()
	must(err)
	must(s.free.Exec(ctx, c, keys, []string{w, "t"}).Error())
	must(s.mallocMember.Exec(ctx, c, keys, []string{nowArg, "t", "warm"}).Error())
	dropKeys(ctx, c, pfx)
	settle()
	before = usedMemory(ctx, c)
	for from := 0; from < *members; from += batch {
		args := []string{expArg}
		for i := from; i < min(from+batch, *members); i++ {
			args = append(args, memberKey(i))
		}
		must(s.load.Exec(ctx, c, keys, args).Error())
	}
	settle()
	after = usedMemory(ctx, c)
	for done := 0; done < *churn; done += 500 {
		var ms []string
		execs := make([]rueidis.LuaExec, 500)
		for i := range execs {
			execs[i] = rueidis.LuaExec{Keys: keys, Args: []string{nowArg, "tok"}}
		}
		for _, r := range s.malloc.ExecMulti(ctx, c, execs...) {
			m, err := r.ToString()
			must(err)
			ms = append(ms, m)
		}
		for range 100 {
			m := memberKey(randInt(*members))
			ok, err := s.mallocMember.Exec(ctx, c, keys, []string{nowArg, "tok", m}).AsInt64()
			must(err)
			if ok == 1 {
				ms = append(ms, m)
			}
		}
		frees := make([]rueidis.LuaExec, len(ms))
		for i, m := range ms {
			frees[i] = rueidis.LuaExec{Keys: keys, Args: []string{m, "tok"}}
		}
		for _, r := range s.free.ExecMulti(ctx, c, frees...) {
			must(r.Error())
		}
	}
	settle()
	churned = usedMemory(ctx, c)
	if !exp {
		for i := range 2 * *pairs { // see runPool
			if i == *pairs {
				resetStat(ctx, c)
			}
			m, err := s.malloc.Exec(ctx, c, keys, []string{nowArg, "tok"}).ToString()
			must(err)
			must(s.free.Exec(ctx, c, keys, []string{m, "tok"}).Error())
		}
		us = perPair(ctx, c)
	}
	dropKeys(ctx, c, pfx)
	settle()
	return before, after, churned, us
}
