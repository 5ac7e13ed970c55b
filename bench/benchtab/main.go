// Command benchtab turns `go test -bench` output into a markdown table of
// median times, and ratios between confide and the peer measured in the
// same run.
//
//	go test -bench . -count 5 ./seal | benchtab -pair Seal/confide=Seal/aesgcm
//
// A pair A=B matches every benchmark named BenchmarkA<suffix> with
// BenchmarkB<suffix> and prints time(A)/time(B).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

type pairs []string

func (p *pairs) String() string     { return strings.Join(*p, ",") }
func (p *pairs) Set(s string) error { *p = append(*p, s); return nil }

var line = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op(.*)$`)

func main() {
	var ps pairs
	flag.Var(&ps, "pair", "A=B: compare BenchmarkA* with BenchmarkB* (repeatable)")
	flag.Parse()
	times := map[string][]float64{}
	extra := map[string]string{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ns, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		if _, ok := times[m[1]]; !ok {
			order = append(order, m[1])
		}
		times[m[1]] = append(times[m[1]], ns)
		extra[m[1]] = strings.TrimSpace(m[4])
	}
	median := func(name string) float64 {
		v := slices.Clone(times[name])
		slices.Sort(v)
		return v[len(v)/2]
	}
	fmt.Println("| benchmark | runs | median | other metrics (last run) |")
	fmt.Println("|---|---|---|---|")
	for _, n := range order {
		fmt.Printf("| %s | %d | %s | %s |\n", n, len(times[n]), human(median(n)), extra[n])
	}
	if len(ps) == 0 {
		return
	}
	fmt.Println()
	fmt.Println("| confide | peer | ratio (confide / peer) |")
	fmt.Println("|---|---|---|")
	for _, p := range ps {
		a, b, ok := strings.Cut(p, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "benchtab: bad pair %q\n", p)
			os.Exit(2)
		}
		for _, n := range order {
			suffix, ok := strings.CutPrefix(n, a)
			if !ok {
				continue
			}
			peer := b + suffix
			if _, ok := times[peer]; !ok {
				continue
			}
			fmt.Printf("| %s | %s | %.2fx |\n", n, peer, median(n)/median(peer))
		}
	}
}

func human(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.1f ns", ns)
}
