// Command attestload is the load generator of the attestation service
// benchmark (issue 12; bench/attest.sh runs it). It starts nothing: it
// takes the URL of a running service (plain HTTP, `confide attest serve
// --insecure-http`) and the simulated platform of $CONFIDE_HOME.
//
// Preparation (untimed): it fetches a nonce per request with POST
// /v1/challenge, has the simulated platform produce evidence for each, and
// builds the JSON bodies. Timed phase: -c goroutines POST the bodies to
// /v1/attest over keep-alive connections, recording every latency. Then it
// verifies the same evidence in process on all cores (attest.Verifier with
// the sim backend, nonce checked) and prints the ratio of the service's
// throughput to that raw verification rate.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attestsvc/api"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
)

type item struct {
	nonce    []byte
	evidence []byte
	body     []byte
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("attestload: ")
	server := flag.String("server", "", "attestation service URL (http://HOST:PORT)")
	n := flag.Int("n", 20000, "timed /v1/attest requests")
	c := flag.Int("c", 32, "concurrent requests")
	warmup := flag.Int("warmup", 1000, "untimed /v1/attest requests before the timed phase")
	platform := flag.String("platform", "", "simulated platform directory (default $CONFIDE_HOME/platform)")
	raw := flag.Bool("raw", true, "also measure in-process verification of the same evidence")
	flag.Parse()
	if *server == "" || !strings.HasPrefix(*server, "http://") {
		log.Fatal("-server http://HOST:PORT is required (plain HTTP: confide attest serve --insecure-http)")
	}
	if *n < 1 || *c < 1 || *warmup < 0 {
		log.Fatal("-n and -c must be positive, -warmup not negative")
	}
	base := strings.TrimRight(*server, "/")
	dir := *platform
	if dir == "" {
		h := os.Getenv("CONFIDE_HOME")
		if h == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				log.Fatal("no $CONFIDE_HOME and no home directory")
			}
			h = filepath.Join(home, ".confide")
		}
		dir = filepath.Join(h, "platform")
	}
	ctx := context.Background()
	hc := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        *c,
			MaxIdleConnsPerHost: *c,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
	fmt.Printf("server=%s n=%d c=%d warmup=%d GOMAXPROCS=%d\n", base, *n, *c, *warmup, runtime.GOMAXPROCS(0))

	total := *warmup + *n
	items := make([]item, total)
	t0 := time.Now()
	if err := fetchNonces(ctx, hc, base, items, *c); err != nil {
		log.Fatal(err)
	}
	t1 := time.Now()
	if err := produceEvidence(ctx, dir, items); err != nil {
		log.Fatal(err)
	}
	t2 := time.Now()
	fmt.Printf("prepare: %d nonces in %v, evidence+bodies in %v\n", total, t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond))

	if *warmup > 0 {
		r := run(ctx, hc, base+api.PathAttest, items[:*warmup], *c)
		if r.errors > 0 {
			fmt.Printf("warmup: %d errors\n", r.errors)
		}
	}
	svc0, svcOK := serviceCPU(ctx, hc, base)
	gen0 := selfCPU()
	r := run(ctx, hc, base+api.PathAttest, items[*warmup:], *c)
	gen1 := selfCPU()
	svc1, svcOK1 := serviceCPU(ctx, hc, base)
	lat := r.latencies
	slices.Sort(lat)
	rate := float64(len(lat)) / r.wall.Seconds()
	fmt.Printf("requests        %d\n", len(lat))
	fmt.Printf("errors          %d\n", r.errors)
	if r.firstErr != "" {
		fmt.Printf("first error     %s\n", r.firstErr)
	}
	fmt.Printf("wall            %v\n", r.wall.Round(time.Millisecond))
	fmt.Printf("attestations/s  %.0f\n", rate)
	fmt.Printf("p50             %s\n", ms(pct(lat, 50)))
	fmt.Printf("p90             %s\n", ms(pct(lat, 90)))
	fmt.Printf("p99             %s\n", ms(pct(lat, 99)))
	fmt.Printf("max             %s\n", ms(lat[len(lat)-1]))
	svcPer := 0.0
	if svcOK && svcOK1 {
		svcPer = (svc1 - svc0).Seconds() / float64(len(lat))
		fmt.Printf("service CPU     %.0fµs per attestation (process_cpu_seconds_total of /metrics)\n", svcPer*1e6)
	}
	fmt.Printf("generator CPU   %.0fµs per request\n", (gen1-gen0).Seconds()/float64(len(lat))*1e6)

	if !*raw {
		return
	}
	cpu0 := selfCPU()
	vrate, err := rawVerify(ctx, dir, items[*warmup:])
	if err != nil {
		log.Fatal(err)
	}
	rawPer := (selfCPU() - cpu0).Seconds() / float64(*n)
	fmt.Printf("raw verify/s    %.0f (attest.Verifier, sim backend, %d goroutines; %.0fµs CPU each)\n", vrate, runtime.GOMAXPROCS(0), rawPer*1e6)
	fmt.Printf("ratio           %.3f (attest/s ÷ raw verify/s)\n", rate/vrate)
	if svcPer > 0 {
		fmt.Printf("CPU ratio       %.3f (raw verify CPU ÷ service CPU per attestation)\n", rawPer/svcPer)
	}
	fmt.Printf("summary c=%d attest/s=%.0f p50=%s p90=%s p99=%s max=%s errors=%d raw/s=%.0f ratio=%.3f svc_cpu=%.0fus raw_cpu=%.0fus\n",
		*c, rate, ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 99)), ms(lat[len(lat)-1]), r.errors, vrate, rate/vrate, svcPer*1e6, rawPer*1e6)
}

// fetchNonces fills items' nonces with POST /v1/challenge, c at a time.
func fetchNonces(ctx context.Context, hc *http.Client, base string, items []item, c int) error {
	return parallel(len(items), c, func(i int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+api.PathChallenge, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("challenge: %s: %s", resp.Status, bytes.TrimSpace(b))
		}
		var ch api.Challenge
		if err := json.Unmarshal(b, &ch); err != nil {
			return fmt.Errorf("challenge: %w", err)
		}
		if items[i].nonce, err = hex.DecodeString(ch.Nonce); err != nil {
			return fmt.Errorf("challenge nonce: %w", err)
		}
		return nil
	})
}

// produceEvidence has the platform attest each nonce and builds the
// bodies. A platform connection serialises its requests, so it uses a few.
func produceEvidence(ctx context.Context, dir string, items []item) error {
	conns := 2 * runtime.GOMAXPROCS(0)
	clients := make(chan *sim.Client, conns)
	for range conns {
		cl, err := sim.Dial(ctx, dir, nil)
		if err != nil {
			return err
		}
		defer cl.Close()
		clients <- cl
	}
	return parallel(len(items), conns, func(i int) error {
		cl := <-clients
		defer func() { clients <- cl }()
		rd, err := enclave.NewReportData(items[i].nonce, nil)
		if err != nil {
			return err
		}
		ev, err := cl.Evidence(ctx, rd)
		if err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
		items[i].evidence = ev
		items[i].body, err = json.Marshal(api.AttestRequest{
			Evidence: base64.StdEncoding.EncodeToString(ev),
			Nonce:    hex.EncodeToString(items[i].nonce),
		})
		return err
	})
}

type result struct {
	latencies []time.Duration // successful and failed requests alike
	errors    int64
	firstErr  string
	wall      time.Duration
}

// run POSTs every item's body to url from c goroutines.
func run(ctx context.Context, hc *http.Client, url string, items []item, c int) result {
	r := result{latencies: make([]time.Duration, len(items))}
	var errs atomic.Int64
	var once sync.Once
	fail := func(msg string) {
		errs.Add(1)
		once.Do(func() { r.firstErr = msg })
	}
	start := time.Now()
	parallel(len(items), c, func(i int) error {
		t := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(items[i].body))
		if err != nil {
			fail(err.Error())
			return nil
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			r.latencies[i] = time.Since(t)
			fail(err.Error())
			return nil
		}
		if resp.StatusCode == http.StatusOK {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.latencies[i] = time.Since(t)
			return nil
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r.latencies[i] = time.Since(t)
		fail(fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b)))
		return nil
	})
	r.wall = time.Since(start)
	r.errors = errs.Load()
	return r
}

// rawVerify verifies the items' evidence in process on GOMAXPROCS
// goroutines and returns verifications per second.
func rawVerify(ctx context.Context, dir string, items []item) (float64, error) {
	roots, err := sim.LoadRoots(dir)
	if err != nil {
		return 0, err
	}
	v := &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: &sim.Verifier{Roots: roots}}}
	// One untimed verification fills the verifier's attestation key cache,
	// as the service's is after its warmup.
	if _, err := v.Verify(ctx, items[0].evidence, attest.Expect{Nonce: items[0].nonce}); err != nil {
		return 0, fmt.Errorf("raw verify: %w", err)
	}
	start := time.Now()
	err = parallel(len(items), runtime.GOMAXPROCS(0), func(i int) error {
		_, err := v.Verify(ctx, items[i].evidence, attest.Expect{Nonce: items[i].nonce})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("raw verify: %w", err)
	}
	return float64(len(items)) / time.Since(start).Seconds(), nil
}

// parallel calls f(0..n-1) from c goroutines and returns the first error
// (the others stop taking work once one fails).
func parallel(n, c int, f func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(c, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// serviceCPU reads the service's process_cpu_seconds_total from /metrics.
func serviceCPU(ctx context.Context, hc *http.Client, base string) (time.Duration, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+api.PathMetrics, nil)
	if err != nil {
		return 0, false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "process_cpu_seconds_total "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return time.Duration(f * float64(time.Second)), true
			}
		}
	}
	return 0, false
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
