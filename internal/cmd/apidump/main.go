// Command apidump prints the public API of this module, one line per
// exported name (see package internal/apidump), and checks that every
// exported identifier is documented.
//
// Run it from the module root:
//
//	go run ./internal/cmd/apidump          # the API to stdout, counts to stderr
//	go run ./internal/cmd/apidump -w       # rewrite api/redisallocator.txt
//	go run ./internal/cmd/apidump -counts  # only the counts per package
//
// It exits 1 when an exported identifier has no doc comment (after writing
// the API), 2 when the module cannot be loaded.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/redisallocator/redisallocator/internal/apidump"
)

func main() {
	write := flag.Bool("w", false, "write "+apidump.File+" instead of printing the API")
	countsOnly := flag.Bool("counts", false, "print only the exported identifiers per package")
	dir := flag.String("C", ".", "the module root")
	flag.Parse()

	r, err := apidump.Dump(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apidump:", err)
		os.Exit(2)
	}
	switch {
	case *countsOnly:
		_ = r.WriteCounts(os.Stdout)
	case *write:
		file := filepath.Join(*dir, apidump.File)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "apidump:", err)
			os.Exit(2)
		}
		if err := os.WriteFile(file, []byte(r.Text()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "apidump:", err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "wrote %s: %d lines\n", file, len(r.Lines))
		_ = r.WriteCounts(os.Stderr)
	default:
		fmt.Print(r.Text())
		_ = r.WriteCounts(os.Stderr)
	}
	if len(r.Undocumented) > 0 {
		fmt.Fprintf(os.Stderr, "apidump: %d exported identifier(s) without a doc comment:\n", len(r.Undocumented))
		for _, u := range r.Undocumented {
			fmt.Fprintln(os.Stderr, "  "+u)
		}
		os.Exit(1)
	}
}
