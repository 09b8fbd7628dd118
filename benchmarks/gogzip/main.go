// gogzip compresses stdin to stdout exactly as `mongodump --archive --gzip` does: Go's
// compress/gzip writer at its default level, on one goroutine, straight onto os.Stdout
// (mongodump/mongodump.go wraps its output in gzip.NewWriter(out)). It is the baseline of the
// benchmark's compressed-backup scenario; benchmarks/gobaseline.py builds it with the machine's go.
package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
)

func main() {
	zipper := gzip.NewWriter(os.Stdout)
	if _, err := io.Copy(zipper, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "gogzip:", err)
		os.Exit(1)
	}
	if err := zipper.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "gogzip:", err)
		os.Exit(1)
	}
}
