// Command gorandom writes the bytes of `random <size> <seed>`, the go-random tool
// (github.com/jbenet/go-random) that Kubo's sharness tests use to make their large inputs,
// e.g. test/sharness/t0040-add-and-cat.sh in github.com/ipfs/kubo:
//
//	random 5242880 41    # sha1 5620fb92eb5a49c9986b5c6844efda37e471660e
//	random 104857600 42  # sha1 885b197b01e0f7ff584458dc236cb9477d2e736d
//
// The bytes are math/rand's Uint32 stream for the seed, each value written as 4 bytes, least
// significant first. The tests compare the SHA-1 published next to each input before they
// compare CIDs, so a wrong reproduction fails as such, not as a misleading CID mismatch.
//
// Usage: go run main.go <size> <seed>
package main

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 3 {
		fail("usage: gorandom <size> <seed>")
	}
	size, err := strconv.ParseInt(os.Args[1], 10, 64)
	if err != nil || size < 0 {
		fail("size must be a non-negative integer")
	}
	seed, err := strconv.ParseInt(os.Args[2], 10, 64)
	if err != nil {
		fail("seed must be an integer")
	}
	// The source the deprecated rand.Seed(seed) installed globally; since Go 1.24 rand.Seed
	// does nothing, so the source is named explicitly.
	rng := rand.New(rand.NewSource(seed))
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	for size > 0 {
		n := rng.Uint32()
		for j := 0; j < 4 && size > 0; j++ {
			if err := out.WriteByte(byte(n)); err != nil {
				fail(err.Error())
			}
			n >>= 8
			size--
		}
	}
	if err := out.Flush(); err != nil {
		fail(err.Error())
	}
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, message)
	os.Exit(2)
}
